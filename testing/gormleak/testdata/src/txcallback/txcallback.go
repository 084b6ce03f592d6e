package txcallback

import (
	"context"
	"errors"
	"fmt"
	"log"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
	"gorm.io/gorm"
)

type User struct{ Name string }

// --- reported ---

func swallowed(ctx context.Context, db *gorm.DB, u *User) error {
	return sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil { // want `statement error is dropped and the transaction callback returns nil at line 22, so the transaction commits half-done work: return the error`
			log.Print(err)
		}
		return nil
	})
}

func ignored(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		tx.Create(u) // want `result of Create is never checked and the transaction callback returns nil at line 29, so the transaction commits half-done work: check .Error and return it`
		return nil
	})
}

func ignoredInChain(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		tx.Model(u).Where("name = ?", u.Name).Update("name", "x") // want `result of Update is never checked`
		return nil
	})
}

func addErrorIsNotEnough(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Save(u).Error; err != nil { // want `statement error is dropped`
			tx.AddError(err)
		}
		return nil
	})
}

func swallowedInLoop(ctx context.Context, db *gorm.DB, users []User) error {
	return sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
		for i := range users {
			if err := tx.Create(&users[i]).Error; err != nil { // want `statement error is dropped`
				log.Printf("skip %s: %v", users[i].Name, err)
				continue
			}
		}
		return nil
	})
}

type service struct{ db *gorm.DB }

func (s *service) work(tx *gorm.DB) error {
	res := tx.Delete(&User{}) // want `statement error is dropped`
	if res.Error != nil {
		fmt.Println(res.Error)
	}
	return nil
}

func (s *service) run(ctx context.Context) error {
	return sessionplugin.Transaction(ctx, s.db, s.work)
}

func namedCallback(tx *gorm.DB) error {
	tx.Exec("DELETE FROM users") // want `result of Exec is never checked`
	return nil
}

func useNamed(db *gorm.DB) error { return db.Transaction(namedCallback) }

// --- clean ---

func returnsTheError(ctx context.Context, db *gorm.DB, u *User) error {
	return sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		if err := tx.Save(u).Error; err != nil {
			return fmt.Errorf("save: %w", err)
		}
		return tx.Model(u).Update("name", "y").Error
	})
}

func resultVariable(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		res := tx.Create(u)
		if res.Error != nil {
			return res.Error
		}
		return nil
	})
}

func toleratesNotFound(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.First(u).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return nil
			}
			return err
		}
		return nil
	})
}

func toleratesNotFoundInline(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.First(u).Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		return nil
	})
}

func panicsOnError(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			panic(err)
		}
		return nil
	})
}

func collectsErrors(db *gorm.DB, users []User) error {
	var errs []error
	err := db.Transaction(func(tx *gorm.DB) error {
		for i := range users {
			if err := tx.Create(&users[i]).Error; err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

func chainedResultHandedOn(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		return check(tx.Create(u))
	})
}

func check(res *gorm.DB) error { return res.Error }

func onOuterDB(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		db.Create(u) // not on the transaction: someone else's problem
		return nil
	})
}

func alwaysFails(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) error {
		tx.Create(u)
		return errors.New("dry run")
	})
}

func namedErrResult(db *gorm.DB, u *User) error {
	return db.Transaction(func(tx *gorm.DB) (err error) {
		err = tx.Create(u).Error
		return
	})
}
