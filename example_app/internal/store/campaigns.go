package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// CreateCampaign inserts c.
func CreateCampaign(db *gorm.DB, c *Campaign) error {
	return db.Create(c).Error
}

// GetCampaign returns the campaign with id, or an error of category
// not_found.
func GetCampaign(db *gorm.DB, id uint64) (Campaign, error) {
	var c Campaign
	err := db.First(&c, id).Error
	return c, err
}

// CampaignCounts returns how many of the campaign's emails are in each
// status; every status is present, zero or not.
func CampaignCounts(db *gorm.DB, id uint64) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := db.Model(&Email{}).Select("status, count(*) AS n").Where("campaign_id = ?", id).Group("status").Scan(&rows).Error
	out := map[string]int64{StatusQueued: 0, StatusSending: 0, StatusSent: 0, StatusFailed: 0}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, err
}

// Enqueue queues one email of the campaign for every contact that has none
// yet, in one transaction, and returns how many it queued. Enqueueing twice
// queues nothing new; two concurrent calls may collide on the
// (campaign, contact) unique index, and the loser fails with category
// unique_violation, queuing nothing.
func Enqueue(ctx context.Context, db *gorm.DB, campaignID uint64) (int, error) {
	var n int
	err := sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
		n = 0
		var c Campaign
		if err := tx.Select("id").First(&c, campaignID).Error; err != nil {
			return err
		}
		var ids []uint64
		already := tx.Model(&Email{}).Select("contact_id").Where("campaign_id = ?", campaignID)
		if err := tx.Model(&Contact{}).Where("id NOT IN (?)", already).Order("id").Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		now := time.Now().UTC()
		emails := make([]Email, len(ids))
		for i, id := range ids {
			emails[i] = Email{CampaignID: campaignID, ContactID: id, Status: StatusQueued, NextAttemptAt: now}
		}
		if err := tx.CreateInBatches(&emails, 500).Error; err != nil {
			return err
		}
		n = len(emails)
		return nil
	})
	return n, err
}
