#include "textflag.h"

// func getfp() unsafe.Pointer
// The frame pointer of the calling frame: with NOFRAME, R29 is untouched.
TEXT ·getfp(SB),NOSPLIT|NOFRAME,$0-8
	MOVD	R29, ret+0(FP)
	RET
