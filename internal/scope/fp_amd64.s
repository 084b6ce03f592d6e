#include "textflag.h"

// func getfp() unsafe.Pointer
// The frame pointer of the calling frame: with NOFRAME, BP is untouched.
TEXT ·getfp(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	BP, ret+0(FP)
	RET
