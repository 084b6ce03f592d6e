// Command example_app is gormsession's walkthrough: a small email-outreach
// service (contacts, campaigns, a background worker sending queued emails)
// built on GORM with the plugin installed in one line, and a scripted demo
// of every feature.
//
//	go run ./example_app          # the service, on an embedded SQLite file
//	go run ./example_app demo     # the walkthrough; exits 0 when every step behaved as narrated
//	go run ./example_app -h       # routes and environment variables
//
// DATABASE_URL=postgres://… or mysql://… switches the database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/replyrocket/gormsession/example_app/internal/app"
	"github.com/replyrocket/gormsession/example_app/internal/config"
	"github.com/replyrocket/gormsession/example_app/internal/demo"
	"github.com/replyrocket/gormsession/example_app/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("example_app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, config.Usage("example_app")) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "example_app: %v\n(run with -h for the variables)\n", err)
		return 2
	}
	switch fs.Arg(0) {
	case "", "serve":
		log, err := logging.New(cfg.LogLevel, cfg.LogFormat)
		if err != nil {
			fmt.Fprintf(stderr, "example_app: %v\n", err)
			return 2
		}
		defer log.Sync()
		if err := app.Run(ctx, cfg, log); err != nil {
			log.Error("example_app stopped with an error", zap.Error(err))
			return 1
		}
		return 0
	case "demo":
		return demo.Run(ctx, cfg, stdout)
	default:
		fmt.Fprintf(stderr, "example_app: unknown command %q\n\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
}
