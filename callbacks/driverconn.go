package callbacks

import (
	"database/sql"
	"database/sql/driver"
	"reflect"
	"unsafe"
)

// The sweeper needs the driver connection under every statement's
// *sql.Conn. Conn.Raw gives it, but takes two locks and a closure to do so,
// which is most of what arming a statement's deadline costs; the pointer
// it returns is set when the connection is made and never changes while
// the Conn is held. So it is read directly, at offsets found (and their
// types checked) once by reflection; if database/sql ever renames or
// retypes those fields, driverConnOf falls back to Raw.
var (
	connDCOffset, dcCIOffset uintptr
	directDriverConn         = findDriverConnFields()
)

func findDriverConnFields() bool {
	dcField, ok := reflect.TypeFor[sql.Conn]().FieldByName("dc")
	if !ok || dcField.Type.Kind() != reflect.Pointer || dcField.Type.Elem().Name() != "driverConn" {
		return false
	}
	ciField, ok := dcField.Type.Elem().FieldByName("ci")
	if !ok || ciField.Type != reflect.TypeFor[driver.Conn]() {
		return false
	}
	connDCOffset, dcCIOffset = dcField.Offset, ciField.Offset
	return true
}

// driverConnOf returns the driver connection conn holds, as Conn.Raw would
// pass it, or nil for a closed or nil conn.
func driverConnOf(conn *sql.Conn) any {
	if conn == nil {
		return nil
	}
	if !directDriverConn {
		return rawDriverConn(conn)
	}
	dc := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(conn), connDCOffset))
	if dc == nil {
		return nil
	}
	if ci := *(*driver.Conn)(unsafe.Add(dc, dcCIOffset)); ci != nil {
		return ci
	}
	return nil
}

// rawDriverConn is driverConnOf through the public API.
func rawDriverConn(conn *sql.Conn) any {
	var dc any
	_ = conn.Raw(func(c any) error {
		dc = c
		return nil
	})
	return dc
}
