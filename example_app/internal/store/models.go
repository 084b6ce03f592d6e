package store

import "time"

// Email statuses. An email moves queued → sending → sent, or back to queued
// (a temporary failure, retried later), or to failed (a permanent failure or
// too many attempts). Only queued emails are ever claimed, so an email in
// sending is never handed to a second sender.
const (
	StatusQueued  = "queued"
	StatusSending = "sending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
)

// Contact is someone a campaign can write to. Email is unique.
type Contact struct {
	ID        uint64    `gorm:"primaryKey" json:"id"`
	Email     string    `gorm:"size:254;not null;uniqueIndex" json:"email"`
	Name      string    `gorm:"size:200;not null" json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Campaign is one message to send to every contact.
type Campaign struct {
	ID        uint64    `gorm:"primaryKey" json:"id"`
	Name      string    `gorm:"size:200;not null" json:"name"`
	Subject   string    `gorm:"size:200;not null" json:"subject"`
	Body      string    `gorm:"type:text;not null" json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// Email is one outbound message of a campaign to a contact; at most one per
// pair.
type Email struct {
	ID            uint64     `gorm:"primaryKey" json:"id"`
	CampaignID    uint64     `gorm:"not null;uniqueIndex:idx_emails_campaign_contact,priority:1" json:"campaign_id"`
	ContactID     uint64     `gorm:"not null;uniqueIndex:idx_emails_campaign_contact,priority:2;index" json:"contact_id"`
	Status        string     `gorm:"size:16;not null;index:idx_emails_due,priority:1" json:"status"`
	NextAttemptAt time.Time  `gorm:"not null;index:idx_emails_due,priority:2" json:"next_attempt_at"`
	Attempts      int        `gorm:"not null;default:0" json:"attempts"`
	LastError     string     `gorm:"size:500;not null;default:''" json:"last_error,omitempty"`
	ClaimedAt     *time.Time `json:"claimed_at,omitempty"`
	ClaimToken    string     `gorm:"size:32;not null;default:'';index" json:"-"` // the claim transaction that took it
	SentAt        *time.Time `json:"sent_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`

	Campaign *Campaign `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	Contact  *Contact  `gorm:"constraint:OnDelete:CASCADE" json:"-"`
}

// Models lists the tables, in migration order.
func Models() []any { return []any{&Contact{}, &Campaign{}, &Email{}} }
