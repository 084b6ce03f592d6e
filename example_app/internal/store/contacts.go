package store

import "gorm.io/gorm"

// CreateContact inserts c; a taken email fails with category
// unique_violation.
func CreateContact(db *gorm.DB, c *Contact) error {
	return db.Create(c).Error
}

// GetContact returns the contact with id, or an error of category
// not_found.
func GetContact(db *gorm.DB, id uint64) (Contact, error) {
	var c Contact
	err := db.First(&c, id).Error
	return c, err
}

// ListContacts returns up to limit contacts with an id above afterID, in id
// order (keyset pagination: pass the last id seen to get the next page).
func ListContacts(db *gorm.DB, afterID uint64, limit int) ([]Contact, error) {
	out := make([]Contact, 0, limit)
	err := db.Where("id > ?", afterID).Order("id").Limit(limit).Find(&out).Error
	return out, err
}
