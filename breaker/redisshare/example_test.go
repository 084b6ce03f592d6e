package redisshare_test

import (
	"log"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker/redisshare"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Every instance of a service runs this: the instances share one breaker
// per source through Redis. (Not run by go test: it needs the servers.)
func Example() {
	logger := zap.Must(zap.NewProduction())
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "redis:6379",
		ContextTimeoutEnabled: true, // so that Options.Timeout bounds each call
	})
	defer rdb.Close()
	fleet, err := redisshare.New(rdb, redisshare.Options{
		Prefix: "orders-db", // one per database
		Logger: logger,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fleet.Close() // after the plugin's Close

	db, err := gorm.Open(postgres.Open("postgres://app@db:5432/orders"), &gorm.Config{})
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := sessionplugin.ConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	cfg.Logger = logger
	cfg.SharedBreaker = fleet
	p := sessionplugin.New(cfg)
	if err := db.Use(p); err != nil {
		log.Fatal(err)
	}
	defer p.Close()
}
