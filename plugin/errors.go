package sessionplugin

import "github.com/replyrocket/gormsession/callbacks/errclass"

// Category names the kind of a database failure; see Classify.
type Category = errclass.Category

// The categories Classify returns.
const (
	CategoryNone                 = errclass.None
	CategoryConnection           = errclass.Connection
	CategoryTimeout              = errclass.Timeout
	CategoryCanceled             = errclass.Canceled
	CategoryPoolExhausted        = errclass.PoolExhausted
	CategoryCircuitOpen          = errclass.CircuitOpen
	CategoryUniqueViolation      = errclass.UniqueViolation
	CategoryForeignKeyViolation  = errclass.ForeignKeyViolation
	CategoryNotNullViolation     = errclass.NotNullViolation
	CategoryCheckViolation       = errclass.CheckViolation
	CategoryNotFound             = errclass.NotFound
	CategoryDeadlock             = errclass.Deadlock
	CategorySerializationFailure = errclass.SerializationFailure
	CategoryReadOnly             = errclass.ReadOnly
	CategorySyntax               = errclass.Syntax
	CategoryUndefinedObject      = errclass.UndefinedObject
	CategoryInvalidData          = errclass.InvalidData
	CategoryPermissionDenied     = errclass.PermissionDenied
	CategoryClosed               = errclass.Closed
	CategoryCommitUnknown        = errclass.CommitUnknown
	CategoryUnknown              = errclass.Unknown
)

// Sentinel errors; match them with errors.Is.
var (
	ErrCircuitOpen   = errclass.ErrCircuitOpen
	ErrPoolTimeout   = errclass.ErrPoolTimeout
	ErrQueryTimeout  = errclass.ErrQueryTimeout
	ErrCommitUnknown = errclass.ErrCommitUnknown
)

// Classify returns the Category of err on PostgreSQL, MySQL/MariaDB and
// SQLite, through any wrapping. nil gives CategoryNone ("").
func Classify(err error) Category { return errclass.Classify(err) }
