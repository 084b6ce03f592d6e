// Package sessionplugin is a stub of github.com/replyrocket/gormsession/plugin.
package sessionplugin

import (
	"context"

	"gorm.io/gorm"
)

type TxOption interface{}

func Transaction(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error, opts ...TxOption) error {
	return fn(db)
}
