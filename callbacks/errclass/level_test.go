package errclass

import (
	"testing"

	"go.uber.org/zap/zapcore"
)

// allCategories lists every Category, None included.
var allCategories = []Category{
	None, Connection, Timeout, Canceled, PoolExhausted, CircuitOpen,
	UniqueViolation, ForeignKeyViolation, NotNullViolation, CheckViolation,
	NotFound, Deadlock, SerializationFailure, ReadOnly, Syntax, UndefinedObject,
	InvalidData, PermissionDenied, Closed, CommitUnknown, Unknown,
}

func TestLevelAndInfrastructure(t *testing.T) {
	want := map[Category]struct {
		level zapcore.Level
		infra bool
	}{
		None:                 {zapcore.DebugLevel, false},
		NotFound:             {zapcore.DebugLevel, false},
		Canceled:             {zapcore.InfoLevel, false},
		UniqueViolation:      {zapcore.WarnLevel, false},
		ForeignKeyViolation:  {zapcore.WarnLevel, false},
		NotNullViolation:     {zapcore.WarnLevel, false},
		CheckViolation:       {zapcore.WarnLevel, false},
		InvalidData:          {zapcore.WarnLevel, false},
		Syntax:               {zapcore.WarnLevel, false},
		UndefinedObject:      {zapcore.WarnLevel, false},
		ReadOnly:             {zapcore.WarnLevel, false},
		PermissionDenied:     {zapcore.WarnLevel, false},
		Deadlock:             {zapcore.WarnLevel, false},
		SerializationFailure: {zapcore.WarnLevel, false},
		Connection:           {zapcore.ErrorLevel, true},
		Timeout:              {zapcore.ErrorLevel, true},
		PoolExhausted:        {zapcore.ErrorLevel, true},
		CircuitOpen:          {zapcore.ErrorLevel, false},
		Closed:               {zapcore.ErrorLevel, false},
		CommitUnknown:        {zapcore.ErrorLevel, false},
		Unknown:              {zapcore.ErrorLevel, false},
		Category("bogus"):    {zapcore.ErrorLevel, false},
	}
	if len(want) != len(allCategories)+1 {
		t.Fatalf("table covers %d categories, there are %d", len(want)-1, len(allCategories))
	}
	for c, w := range want {
		if got := c.Level(); got != w.level {
			t.Errorf("%q.Level() = %v, want %v", c, got, w.level)
		}
		if got := c.Infrastructure(); got != w.infra {
			t.Errorf("%q.Infrastructure() = %v, want %v", c, got, w.infra)
		}
	}
}
