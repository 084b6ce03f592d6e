package errclass

import (
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestMySQLNumbers(t *testing.T) {
	want := map[Category][]uint16{
		UniqueViolation:      {1062, 1586, 1022},
		ForeignKeyViolation:  {1451, 1452, 1216, 1217},
		NotNullViolation:     {1048, 1364},
		CheckViolation:       {3819, 4025},
		Deadlock:             {1213},
		SerializationFailure: {1020},
		Timeout:              {1205, 3024, 1969, 3572},
		Canceled:             {1317},
		ReadOnly:             {1792, 1290, 1836},
		Syntax:               {1064, 1149},
		UndefinedObject:      {1146, 1054, 1049, 1305, 1091, 1051},
		InvalidData:          {1366, 1406, 1264, 1292, 1265, 1411, 1367, 1365, 1690},
		PermissionDenied:     {1142, 1143, 1044, 1045, 1227, 1370, 1698, 1130},
		Connection:           {1040, 1053, 1152, 1158, 1159, 1160, 1161, 1927, 2002, 2003, 2006, 2013},
		Unknown:              {1, 1105, 1175, 65535},
	}
	for cat, nums := range want {
		for _, n := range nums {
			e := &mysql.MySQLError{Number: n, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}, Message: "m"}
			if got := Classify(e); got != cat {
				t.Errorf("Classify(MySQL %d) = %q, want %q", n, got, cat)
			}
			if got, want := Code(e), fmt.Sprint(n); got != want {
				t.Errorf("Code(MySQL %d) = %q, want %q", n, got, want)
			}
		}
	}
}

func TestMySQLSpecialCases(t *testing.T) {
	state := func(s string) (b [5]byte) { copy(b[:], s); return }
	tests := []struct {
		name string
		err  *mysql.MySQLError
		want Category
	}{
		{"1290 read-only", &mysql.MySQLError{Number: 1290, Message: "The MariaDB server is running with the --read-only option so it cannot execute this statement"}, ReadOnly},
		{"1290 secure-file-priv", &mysql.MySQLError{Number: 1290, Message: "The MySQL server is running with the --secure-file-priv option so it cannot execute this statement"}, PermissionDenied},
		{"unlisted number, SQLSTATE 08", &mysql.MySQLError{Number: 9999, SQLState: state("08S01")}, Connection},
		{"unlisted number, SQLSTATE 22", &mysql.MySQLError{Number: 9999, SQLState: state("22007")}, InvalidData},
		{"unlisted number, SQLSTATE 42S02", &mysql.MySQLError{Number: 9999, SQLState: state("42S02")}, UndefinedObject},
		{"unlisted number, SQLSTATE 23000", &mysql.MySQLError{Number: 9999, SQLState: state("23000")}, Unknown},
		{"zero value", &mysql.MySQLError{}, Unknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("%s: Classify = %q, want %q", tt.name, got, tt.want)
		}
	}
}
