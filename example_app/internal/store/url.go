package store

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Kind names a database engine.
type Kind string

// The engines the app runs on.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
	MySQL    Kind = "mysql" // MySQL and MariaDB
)

// Target is a parsed DATABASE_URL.
type Target struct {
	Kind     Kind
	DSN      string // what the driver is given
	Addr     string // host:port of the server; "" for SQLite
	Redacted string // the URL with its password hidden, for logs
}

// ParseURL turns a DATABASE_URL into a Target:
//
//	postgres://user:pass@host:5432/db?sslmode=disable   (also postgresql://)
//	mysql://user:pass@host:3306/db?param=value          (MySQL or MariaDB)
//	sqlite:/path/to/file.db, sqlite:///abs/path.db, file:/path.db?_pragma=...
//
// A mysql:// URL is converted to go-sql-driver's DSN, with parseTime=true.
// Errors never repeat the password.
func ParseURL(raw string) (Target, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return Target{}, errors.New("DATABASE_URL: not a valid postgres:// URL")
		}
		if u.Host == "" {
			return Target{}, errors.New("DATABASE_URL: postgres:// URL without a host")
		}
		return Target{Kind: Postgres, DSN: raw, Addr: withPort(u.Host, "5432"), Redacted: u.Redacted()}, nil
	case strings.HasPrefix(raw, "mysql://"):
		dsn, addr, redacted, err := mysqlDSN(raw)
		if err != nil {
			return Target{}, err
		}
		return Target{Kind: MySQL, DSN: dsn, Addr: addr, Redacted: redacted}, nil
	case strings.HasPrefix(raw, "sqlite:"), strings.HasPrefix(raw, "file:"):
		dsn, err := sqliteDSN(raw)
		if err != nil {
			return Target{}, err
		}
		return Target{Kind: SQLite, DSN: dsn, Redacted: raw}, nil
	}
	scheme, _, _ := strings.Cut(raw, ":")
	return Target{}, fmt.Errorf("DATABASE_URL: unsupported scheme %q: want postgres://, mysql://, sqlite: or file:", scheme)
}

// Dialector returns the GORM dialector for t.
func (t Target) Dialector() gorm.Dialector {
	switch t.Kind {
	case Postgres:
		return postgres.Open(t.DSN)
	case MySQL:
		return mysql.Open(t.DSN)
	default:
		return sqliteDialector(t.DSN)
	}
}

// DialectorOn returns a dialector of t's engine over the open pool db,
// for listing the primary among dbresolver's replicas.
func (t Target) DialectorOn(db *sql.DB) gorm.Dialector {
	switch t.Kind {
	case Postgres:
		return postgres.New(postgres.Config{Conn: db})
	case MySQL:
		return mysql.New(mysql.Config{Conn: db, SkipInitializeWithVersion: true})
	default:
		return sqliteDialectorOn(db)
	}
}

// WithHost returns the postgres:// or mysql:// URL raw with its host:port
// replaced by addr (to route it through a proxy).
func WithHost(raw, addr string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", errors.New("WithHost: not a server URL")
	}
	u.Host = addr
	return u.String(), nil
}

func mysqlDSN(raw string) (dsn, addr, redacted string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", errors.New("DATABASE_URL: not a valid mysql:// URL")
	}
	if u.Host == "" {
		return "", "", "", errors.New("DATABASE_URL: mysql:// URL without a host")
	}
	addr = withPort(u.Host, "3306")
	db := strings.TrimPrefix(u.Path, "/")
	// Parse the address, database and parameters as go-sql-driver does, then
	// set the credentials as fields, so no character in them needs escaping.
	c, err := mysqldrv.ParseDSN("tcp(" + addr + ")/" + db + "?" + u.RawQuery)
	if err != nil {
		return "", "", "", fmt.Errorf("DATABASE_URL: mysql:// URL parameters: %w", err)
	}
	if u.User != nil {
		c.User = u.User.Username()
		c.Passwd, _ = u.User.Password()
	}
	c.ParseTime = true
	return c.FormatDSN(), addr, u.Redacted(), nil
}

func sqliteDSN(raw string) (string, error) {
	rest := raw
	switch {
	case strings.HasPrefix(rest, "sqlite://"):
		rest = strings.TrimPrefix(rest, "sqlite://")
	case strings.HasPrefix(rest, "sqlite:"):
		rest = strings.TrimPrefix(rest, "sqlite:")
	default:
		rest = strings.TrimPrefix(rest, "file:")
	}
	path, query, _ := strings.Cut(rest, "?")
	if path == "" || strings.Contains(path, ":memory:") {
		return "", errors.New("DATABASE_URL: SQLite needs a file path (an in-memory database is one per connection)")
	}
	if !strings.Contains(query, "_pragma") {
		if query != "" {
			query += "&"
		}
		query += sqlitePragmas
	} else if !strings.Contains(query, "_txlock") {
		// Pragmas of the caller's own, but a service still needs writers
		// to wait for the lock rather than fail (see sqlitePragmas).
		query += "&_txlock=immediate"
	}
	return "file:" + path + "?" + query, nil
}

func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}
