package store

import (
	"gorm.io/gorm"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// CreateContact inserts c; a taken email fails with category
// unique_violation.
func CreateContact(db *gorm.DB, c *Contact) error {
	return db.Create(c).Error
}

// GetContact returns the contact with id, or an error of category
// not_found.
func GetContact(db *gorm.DB, id uint64) (Contact, error) {
	var c Contact
	err := read(db, func(db *gorm.DB) error { return db.First(&c, id).Error })
	return c, err
}

// ListContacts returns up to limit contacts with an id above afterID, in id
// order (keyset pagination: pass the last id seen to get the next page).
func ListContacts(db *gorm.DB, afterID uint64, limit int) ([]Contact, error) {
	out := make([]Contact, 0, limit)
	err := read(db, func(db *gorm.DB) error {
		out = out[:0] // a retry starts over
		return db.Where("id > ?", afterID).Order("id").Limit(limit).Find(&out).Error
	})
	return out, err
}

// read runs a read through sessionplugin.Read: with replicas, a read that
// fails because its replica just went away runs once more on the primary.
// Without replicas it is fn(db).
func read(db *gorm.DB, fn func(db *gorm.DB) error) error {
	return sessionplugin.Read(db.Statement.Context, db, fn)
}
