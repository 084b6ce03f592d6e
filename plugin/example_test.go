package sessionplugin_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/libtnb/sqlite"
	"go.uber.org/zap"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

type Account struct {
	ID      uint
	Email   string `gorm:"uniqueIndex"`
	Balance int
}

func openExampleDB(name string) *gorm.DB {
	db, err := gorm.Open(sqlite.Open("file:"+name+"?mode=memory&cache=shared"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		panic(err)
	}
	if err := db.AutoMigrate(&Account{}); err != nil {
		panic(err)
	}
	return db
}

func closeExampleDB(db *gorm.DB) {
	if p, ok := sessionplugin.FromDB(db); ok {
		p.Close()
	}
	sqlDB, _ := db.DB()
	sqlDB.Close()
}

func ExampleNew() {
	db := openExampleDB("example_new")
	defer closeExampleDB(db)

	cfg := sessionplugin.DefaultConfig() // or sessionplugin.ConfigFromEnv()
	cfg.Logger = zap.NewNop()            // your *zap.Logger
	if err := db.Use(sessionplugin.New(cfg)); err != nil {
		panic(err)
	}

	db.Create(&Account{Email: "ada@example.com"})
	p, _ := sessionplugin.FromDB(db)
	st := p.Stats()
	fmt.Println("scopes opened:", st.Opened, "still open:", st.Active)
	sqlDB, _ := db.DB()
	fmt.Println("max open connections:", sqlDB.Stats().MaxOpenConnections)

	bad := sessionplugin.DefaultConfig()
	bad.PoolSize = 0
	other := openExampleDB("example_new_bad")
	defer closeExampleDB(other)
	fmt.Println(other.Use(sessionplugin.New(bad)))
	// Output:
	// scopes opened: 1 still open: 0
	// max open connections: 15
	// sessionplugin: Config.PoolSize = 0: must be at least 1
}

func ExampleTransaction() {
	db := openExampleDB("example_tx")
	defer closeExampleDB(db)
	db.Use(sessionplugin.New(sessionplugin.DefaultConfig()))
	ctx := context.Background()

	// fn returns nil: committed.
	err := sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
		return tx.Create(&Account{Email: "ada@example.com", Balance: 100}).Error
	})
	fmt.Println("commit:", err)

	// fn returns an error: rolled back, and the same error comes back.
	errInsufficient := errors.New("insufficient funds")
	err = sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
		tx.Model(&Account{}).Where("email = ?", "ada@example.com").Update("balance", 0)
		return errInsufficient
	})
	fmt.Println("rollback:", errors.Is(err, errInsufficient))

	var a Account
	db.First(&a, "email = ?", "ada@example.com")
	fmt.Println("balance:", a.Balance)
	// Output:
	// commit: <nil>
	// rollback: true
	// balance: 100
}

func ExampleClassify() {
	db := openExampleDB("example_classify")
	defer closeExampleDB(db)
	db.Use(sessionplugin.New(sessionplugin.DefaultConfig()))

	db.Create(&Account{Email: "ada@example.com"})
	err := db.Create(&Account{Email: "ada@example.com"}).Error
	fmt.Println(sessionplugin.Classify(err))

	err = db.First(&Account{}, "email = ?", "nobody@example.com").Error
	fmt.Println(sessionplugin.Classify(err))

	fmt.Printf("%q\n", sessionplugin.Classify(nil))
	// Output:
	// unique_violation
	// not_found
	// ""
}
