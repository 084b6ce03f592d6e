package reliability

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"

	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// TestMySQLConnectResetIsConnection is the smallest form of the "unknown"
// errors the reset scenario shows on MariaDB. When a connection is reset
// after the server's greeting, go-sql-driver/mysql fails writing its login
// packet and returns its unexported errBadConnNoWrite ("bad connection")
// from Connect, unconverted (it maps it to driver.ErrBadConn only on the
// statement paths). That is a connection failure, and must count against
// the breaker; classified unknown, the breaker counts it as a success (it
// resets the consecutive-failure count), so a server that resets every
// login does not open it.
//
// No database is needed: a listener on loopback plays a server that sends
// a minimal greeting and then resets the connection.
func TestMySQLConnectResetIsConnection(t *testing.T) {
	addr := resetAfterGreeting(t)
	db, err := gorm.Open(gormmysql.New(gormmysql.Config{DSN: "root@tcp(" + addr + ")/test", SkipInitializeWithVersion: true}),
		&gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	cfg := sessionplugin.DefaultConfig()
	// Off, so that every statement reaches the server; what the breaker
	// would do with these errors follows from their category.
	cfg.Breaker.Disabled = true
	p := sessionplugin.New(cfg)
	if err := db.Use(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	// Whether the client's write or the reset comes first is up to the
	// scheduler; the reset almost always wins, and 20 tries make sure.
	wrong := map[string]int{}
	for range 20 {
		err := db.Exec("SELECT 1").Error
		if c := sessionplugin.Classify(err); c != sessionplugin.CategoryConnection {
			wrong[fmt.Sprintf("%s: %q", c, err)]++
		}
	}
	for e, n := range wrong {
		t.Errorf("%d of 20 connections reset during login gave %s, want category connection", n, e)
	}
}

// resetAfterGreeting listens on loopback and, for each connection, sends a
// minimal MySQL protocol-10 greeting and then resets the connection
// (SO_LINGER 0), so the client's next write, its login packet, fails.
func resetAfterGreeting(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	// A protocol-10 greeting: server version, connection id, scramble
	// (8 + 12 bytes), CLIENT_LONG_PASSWORD|CLIENT_PROTOCOL_41 and
	// CLIENT_PLUGIN_AUTH, mysql_native_password.
	payload := []byte{10}
	payload = append(payload, "5.7.0\x00"...)
	payload = append(payload, 1, 0, 0, 0)
	payload = append(payload, "abcdefgh\x00"...)
	payload = binary.LittleEndian.AppendUint16(payload, 0x0201) // capabilities, lower
	payload = append(payload, 0x21, 2, 0)                       // charset, status
	payload = binary.LittleEndian.AppendUint16(payload, 0x0008) // capabilities, upper
	payload = append(payload, 21)                               // scramble length
	payload = append(payload, make([]byte, 10)...)              // reserved
	payload = append(payload, "ijklmnopqrst\x00"...)
	payload = append(payload, "mysql_native_password\x00"...)
	packet := append([]byte{byte(len(payload)), 0, 0, 0}, payload...)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0) // before the write: RST right after the greeting
			c.Write(packet)
			c.Close()
		}
	}()
	return ln.Addr().String()
}
