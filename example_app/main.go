// Command example_app walks through gormsession on embedded SQLite.
package main

import (
	"fmt"
	"log"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

func main() {
	db, err := gorm.Open(sqlite.Open("file::memory:"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	var n int
	if err := db.Raw("SELECT 1").Scan(&n).Error; err != nil {
		log.Fatal(err)
	}
	fmt.Println("example_app: SQLite answered", n)
}
