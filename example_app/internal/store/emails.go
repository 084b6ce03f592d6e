package store

import (
	"time"

	"gorm.io/gorm"
)

// GetEmail returns the email with id, or an error of category not_found.
func GetEmail(db *gorm.DB, id uint64) (Email, error) {
	var e Email
	err := read(db, func(db *gorm.DB) error { return db.First(&e, id).Error })
	return e, err
}

// MarkSent records that the email claimed as sending was sent. It reports
// false when the email was not in sending (nothing changed).
func MarkSent(db *gorm.DB, id uint64, at time.Time) (bool, error) {
	res := db.Model(&Email{}).Where("id = ? AND status = ?", id, StatusSending).
		Updates(map[string]any{"status": StatusSent, "sent_at": at, "last_error": ""})
	return res.RowsAffected == 1, res.Error
}

// Requeue puts a claimed email back in the queue after a temporary failure,
// due again at next.
func Requeue(db *gorm.DB, id uint64, next time.Time, reason string) error {
	return db.Model(&Email{}).Where("id = ? AND status = ?", id, StatusSending).
		Updates(map[string]any{"status": StatusQueued, "next_attempt_at": next, "last_error": truncate(reason, 500)}).Error
}

// MarkFailed gives up on a claimed email.
func MarkFailed(db *gorm.DB, id uint64, reason string) error {
	return db.Model(&Email{}).Where("id = ? AND status = ?", id, StatusSending).
		Updates(map[string]any{"status": StatusFailed, "last_error": truncate(reason, 500)}).Error
}

// Release returns claimed emails that were never handed to the sender to the
// queue, undoing their attempt (used when the worker stops mid-batch).
func Release(db *gorm.DB, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	return db.Model(&Email{}).Where("id IN ? AND status = ?", ids, StatusSending).
		Updates(map[string]any{"status": StatusQueued, "attempts": gorm.Expr("attempts - 1")}).Error
}

// CountByStatus returns how many emails are in each status, every status
// present.
func CountByStatus(db *gorm.DB) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := db.Model(&Email{}).Select("status, count(*) AS n").Group("status").Scan(&rows).Error
	out := map[string]int64{StatusQueued: 0, StatusSending: 0, StatusSent: 0, StatusFailed: 0}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, err
}

// StaleSending counts emails claimed before cutoff and still in sending:
// a previous process stopped between handing them to the sender and
// recording the outcome. They are not sent again automatically.
func StaleSending(db *gorm.DB, cutoff time.Time) (int64, error) {
	var n int64
	err := db.Model(&Email{}).Where("status = ? AND claimed_at < ?", StatusSending, cutoff).Count(&n).Error
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
