package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/plugin/dbresolver"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Claim moves up to limit due queued emails to sending in one transaction
// and returns them with their contact and campaign loaded. Concurrent
// claimers (goroutines or processes) never get the same email:
//
//   - PostgreSQL and MySQL/MariaDB lock the candidates with
//     SELECT ... FOR UPDATE SKIP LOCKED, so each claimer takes rows no
//     other claimer holds, without waiting;
//   - SQLite has no row locks (one writer at a time), so each candidate is
//     claimed with UPDATE ... WHERE id = ? AND status = 'queued' and kept
//     only if that changed a row.
//
// Each claimed email carries token, so a claim whose COMMIT outcome is
// unknown can be undone with ReleaseClaim. A serialization failure or
// deadlock re-runs the transaction (WithRetry).
func Claim(ctx context.Context, db *gorm.DB, kind Kind, now time.Time, limit int, token string) ([]Email, error) {
	var cand []uint64
	if kind == SQLite {
		// Candidates are read before BEGIN (on the primary), so the
		// transaction's first statement is a write: SQLite then takes its
		// write lock, waiting up to busy_timeout, instead of failing a
		// read snapshot gone stale.
		err := db.WithContext(ctx).Clauses(dbresolver.Write).Model(&Email{}).
			Where("status = ? AND next_attempt_at <= ?", StatusQueued, now).
			Order("id").Limit(limit).Pluck("id", &cand).Error
		if err != nil || len(cand) == 0 {
			return nil, err
		}
	}
	var out []Email
	err := sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
		out = nil
		var ids []uint64
		var err error
		if kind == SQLite {
			ids, err = claimEach(tx, cand, now, token)
		} else {
			ids, err = claimSkipLocked(tx, now, limit, token)
		}
		if err != nil || len(ids) == 0 {
			return err
		}
		return tx.Preload("Contact").Preload("Campaign").Where("id IN ?", ids).Order("id").Find(&out).Error
	}, sessionplugin.WithRetry(3, 20*time.Millisecond))
	return out, err
}

func claimSkipLocked(tx *gorm.DB, now time.Time, limit int, token string) ([]uint64, error) {
	var ids []uint64
	err := tx.Model(&Email{}).
		Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked}).
		Where("status = ? AND next_attempt_at <= ?", StatusQueued, now).
		Order("id").Limit(limit).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	err = tx.Model(&Email{}).Where("id IN ?", ids).Updates(claimed(now, token)).Error
	return ids, err
}

// claimEach claims each candidate with a conditional UPDATE and keeps those
// it changed: a candidate another claimer took meanwhile changes no row.
func claimEach(tx *gorm.DB, cand []uint64, now time.Time, token string) ([]uint64, error) {
	var ids []uint64
	for _, id := range cand {
		res := tx.Model(&Email{}).Where("id = ? AND status = ?", id, StatusQueued).Updates(claimed(now, token))
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 1 {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func claimed(now time.Time, token string) map[string]any {
	return map[string]any{"status": StatusSending, "attempts": gorm.Expr("attempts + 1"), "claimed_at": now, "claim_token": token}
}

// ReleaseClaim returns to the queue every email the claim with token left
// in sending. The worker calls it when a claim's COMMIT had an unknown
// outcome (the connection was lost during COMMIT): the claim may have
// committed, but none of its emails was handed to the sender.
func ReleaseClaim(db *gorm.DB, token string) (int64, error) {
	res := db.Model(&Email{}).Where("claim_token = ? AND status = ?", token, StatusSending).
		Updates(map[string]any{"status": StatusQueued, "attempts": gorm.Expr("attempts - 1")})
	return res.RowsAffected, res.Error
}
