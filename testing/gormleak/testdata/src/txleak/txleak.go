package txleak

import (
	"errors"
	"log"

	"gorm.io/gorm"
)

type User struct{ Name string }

var global *gorm.DB

type repo struct{ tx *gorm.DB }

func helper(tx *gorm.DB) {}

// --- reported ---

func earlyReturn(db *gorm.DB, u *User) error {
	tx := db.Begin() // want `transaction begun here is not committed or rolled back when returning at line 23; use sessionplugin.Transaction\(ctx, db, func\(tx \*gorm.DB\) error \{ ... \}\), which commits on nil and rolls back on error or panic`
	if err := tx.Create(u).Error; err != nil {
		return err
	}
	return tx.Commit().Error
}

func neverEnded(db *gorm.DB, u *User) {
	tx := db.Begin() // want `not committed or rolled back when returning at line 31`
	tx.Create(u)
}

func twoLeakingReturns(db *gorm.DB, u *User) error {
	tx := db.Begin() // want `when returning at lines 36, 39;`
	if err := tx.Create(u).Error; err != nil {
		return err
	}
	if err := tx.Save(u).Error; err != nil {
		return err
	}
	tx.Commit()
	return nil
}

func returnedOnlyOnHappyPath(db *gorm.DB, u *User) (*gorm.DB, error) {
	tx := db.Begin() // want `when returning at line 48`
	if err := tx.Create(u).Error; err != nil {
		return nil, err
	}
	return tx, nil
}

func chainResultErrorIsNotBeginError(db *gorm.DB, u *User) error {
	tx := db.Begin() // want `when returning at line 56`
	if res := tx.Create(u); res.Error != nil {
		return res.Error
	}
	return tx.Commit().Error
}

func recoverOnly(db *gorm.DB, u *User) error {
	tx := db.Begin() // want `when returning at line 70`
	defer func() {
		if r := recover(); r != nil {
			tx.Rollback()
			panic(r)
		}
	}()
	if err := tx.Create(u).Error; err != nil {
		return err
	}
	return tx.Commit().Error
}

func inLoop(db *gorm.DB, users []User) {
	for i := range users {
		tx := db.Begin() // want `not committed or rolled back before the loop begins the next one`
		tx.Create(&users[i])
	}
}

// --- clean ---

func deferredRollback(db *gorm.DB, u *User) error {
	tx := db.Begin()
	defer tx.Rollback()
	if err := tx.Create(u).Error; err != nil {
		return err
	}
	return tx.Commit().Error
}

func beginFailed(db *gorm.DB, u *User) error {
	tx := db.Begin()
	if tx.Error != nil {
		return tx.Error
	}
	defer tx.Rollback()
	return tx.Create(u).Error
}

func beginFailedErrVar(db *gorm.DB, u *User) error {
	tx := db.Begin()
	if err := tx.Error; err != nil {
		return err
	}
	if err := tx.Create(u).Error; err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit().Error
}

func returnedToCaller(db *gorm.DB) *gorm.DB {
	tx := db.Begin()
	return tx
}

func passedToHelper(db *gorm.DB) {
	tx := db.Begin()
	helper(tx)
}

func storedInField(db *gorm.DB, r *repo) {
	r.tx = db.Begin()
}

func storedInGlobal(db *gorm.DB) {
	global = db.Begin()
}

func storedInMap(db *gorm.DB, m map[string]*gorm.DB) {
	m["x"] = db.Begin()
}

func rollbackInErrorBranch(db *gorm.DB, u *User) error {
	tx := db.Begin()
	if err := tx.Create(u).Error; err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Save(u).Error; err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit().Error
}

func deferredRecoverClosure(db *gorm.DB, u *User) (err error) {
	tx := db.Begin()
	defer func() {
		if r := recover(); r != nil {
			tx.Rollback()
			panic(r)
		}
	}()
	if err := tx.Create(u).Error; err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit().Error
}

func deferredNamedErrClosure(db *gorm.DB, u *User) (err error) {
	tx := db.Begin()
	defer func() {
		if r := recover(); r != nil || err != nil {
			tx.Rollback()
		}
	}()
	if err = tx.Create(u).Error; err != nil {
		return err
	}
	return tx.Commit().Error
}

func deferredUnconditionalClosure(db *gorm.DB, u *User) error {
	tx := db.Begin()
	defer func() { tx.Rollback() }()
	if err := tx.Create(u).Error; err != nil {
		return err
	}
	return tx.Commit().Error
}

func chainCommit(db *gorm.DB, u *User) error {
	tx := db.Begin()
	if err := tx.Create(u).Error; err != nil {
		tx.Where("1 = 1").Rollback()
		return err
	}
	return tx.Session(&gorm.Session{}).Commit().Error
}

func methodValue(db *gorm.DB, u *User) error {
	tx := db.Begin()
	rollback := tx.Rollback
	defer rollback()
	return tx.Create(u).Error
}

func capturedByEscapingClosure(db *gorm.DB) func() {
	tx := db.Begin()
	return func() { tx.Commit() }
}

func capturedByGoroutine(db *gorm.DB) {
	tx := db.Begin()
	go func() {
		defer tx.Rollback()
	}()
}

func committerFromConnPool(db *gorm.DB, u *User) error {
	tx := db.Begin()
	if tx.Error != nil {
		return tx.Error
	}
	committer, ok := tx.Statement.ConnPool.(gorm.TxCommitter)
	if !ok {
		return errors.New("not a transaction")
	}
	done := false
	defer func() {
		if !done {
			_ = committer.Rollback()
		}
	}()
	tx.Create(u)
	done = true
	return committer.Commit()
}

func panicsInstead(db *gorm.DB, u *User) error {
	tx := db.Begin()
	if err := tx.Create(u).Error; err != nil {
		panic(err)
	}
	return tx.Commit().Error
}

func suppressed(db *gorm.DB) {
	tx := db.Begin() //gormleak:ignore a deliberate leak for a test
	tx.Create(&User{})
}

func suppressedAbove(db *gorm.DB) {
	//gormleak:ignore a deliberate leak for a test
	db.Begin()
}

// Like gorm's own Transaction: tx and err live in cells, as the deferred
// closure captures them.
func capturedWithErrorCheck(db *gorm.DB, fc func(*gorm.DB) error) (err error) {
	panicked := true
	tx := db.Begin()
	if tx.Error != nil {
		return tx.Error
	}
	defer func() {
		if panicked || err != nil {
			tx.Rollback()
		}
	}()
	if err = fc(tx); err == nil {
		panicked = false
		return tx.Commit().Error
	}
	panicked = false
	return
}

// Like gorm's BeginTransaction callback: the transaction's connection pool
// is handed to another statement, which ends it.
func connPoolHandedOn(db *gorm.DB) {
	if tx := db.Begin(); tx.Error == nil {
		db.Statement.ConnPool = tx.Statement.ConnPool
	}
}

func statementPassedOn(db *gorm.DB, use func(*gorm.Statement)) {
	tx := db.Begin()
	use(tx.Statement)
}

func contextIsNotTheTransaction(db *gorm.DB, use func(any)) {
	tx := db.Begin() // want `when returning at line \d+`
	use(tx.Statement.Context)
}

func fatalOnError(db *gorm.DB, u *User) {
	tx := db.Begin()
	if err := tx.Create(u).Error; err != nil {
		log.Fatalf("create: %v", err)
	} else {
		tx.Commit()
	}
}
