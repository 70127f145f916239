package streaming

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// BudgetStore keeps what each API key spent on a UTC day, in tokens
// (input plus output, as Bedrock counts them), and the keys' own daily
// budgets where an operator set one. Keys are sha256 hashes of the API
// keys: the store never sees a key.
type BudgetStore interface {
	// Spent returns what keyHash spent on day (YYYY-MM-DD, UTC) and its
	// own daily budget, or -1 when it has none (DAILY_TOKEN_BUDGET applies).
	Spent(ctx context.Context, keyHash, day string) (spent, limit int64, err error)
	// Add adds tokens to keyHash's count for day.
	Add(ctx context.Context, keyHash, day string, tokens int64) error
}

// budgets applies DAILY_TOKEN_BUDGET: a request whose key has spent its
// day's budget is refused before any call to Bedrock; every answer's
// tokens are added to its key's count when it ends, however it ends. An
// answer already running finishes: the budget is checked before a call,
// not during it.
type budgets struct {
	daily int64 // DAILY_TOKEN_BUDGET; 0 = off
	store BudgetStore
	log   *slog.Logger
	now   func() time.Time
}

// budgetTimeout bounds each store call: a slow table must not hold a
// request (or the end of an answer) for long.
const budgetTimeout = 2 * time.Second

func newBudgets(daily int64, store BudgetStore, log *slog.Logger) *budgets {
	if daily <= 0 {
		return nil
	}
	if store == nil {
		store = NewMemoryBudgetStore()
	}
	return &budgets{daily: daily, store: store, log: log, now: time.Now}
}

// budgetKey is what a request's spending is counted under.
type budgetKey struct {
	hash, day string
	reset     time.Time // the next UTC midnight
}

func (b *budgets) keyFor(rec *RequestLog) budgetKey {
	now := b.now().UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return budgetKey{hash: rec.keyHash, day: now.Format(time.DateOnly), reset: midnight}
}

// check refuses a request whose key has spent its budget. A store that
// cannot be reached does not refuse: the request is served and the log
// line says the budget was not checked (fail open, see streaming/README.md).
func (b *budgets) check(ctx context.Context, rec *RequestLog) *Error {
	if b == nil {
		return nil
	}
	k := b.keyFor(rec)
	ctx, cancel := context.WithTimeout(ctx, budgetTimeout)
	defer cancel()
	spent, limit, err := b.store.Spent(ctx, k.hash, k.day)
	if err != nil {
		rec.budget = "unchecked"
		b.log.Warn("token budget store unavailable: the request is served without a budget check",
			"requestId", rec.requestID, "err", Truncate(err.Error(), 300))
		return nil
	}
	if limit < 0 {
		limit = b.daily
	}
	if spent < limit {
		return nil
	}
	rec.budget = "exceeded"
	wait := int(k.reset.Sub(b.now()).Seconds()) + 1
	return &Error{Status: http.StatusTooManyRequests, Code: CodeBudgetExceeded, RetryAfter: wait,
		Message: fmt.Sprintf("this API key has used its daily budget of %d tokens (%d used today); it resets at %s",
			limit, spent, k.reset.Format(time.RFC3339))}
}

// charge adds an answer's tokens to its key's count. It runs when the
// answer has ended, on a context of its own: the client may be gone, and
// on Lambda the function may be frozen once the response is complete, so
// it is done before the handler returns.
func (b *budgets) charge(ctx context.Context, rec *RequestLog) {
	tokens := rec.tokensSpent()
	if b == nil || tokens <= 0 {
		return
	}
	k := b.keyFor(rec)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budgetTimeout)
	defer cancel()
	if err := b.store.Add(ctx, k.hash, k.day, int64(tokens)); err != nil {
		rec.budget = strings.TrimPrefix(rec.budget+", uncounted", ", ")
		b.log.Warn("token budget store unavailable: an answer's tokens were not counted",
			"requestId", rec.requestID, "tokens", tokens, "err", Truncate(err.Error(), 300))
	}
}

// MemoryBudgetStore is the BudgetStore of one process (local mode without
// BUDGET_TABLE). Days other than the latest are forgotten.
type MemoryBudgetStore struct {
	mu     sync.Mutex
	day    string
	spent  map[string]int64
	limits map[string]int64
}

// NewMemoryBudgetStore returns an empty store.
func NewMemoryBudgetStore() *MemoryBudgetStore {
	return &MemoryBudgetStore{spent: map[string]int64{}, limits: map[string]int64{}}
}

// SetLimit gives keyHash a daily budget of its own.
func (s *MemoryBudgetStore) SetLimit(keyHash string, tokens int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[keyHash] = tokens
}

// Spent implements BudgetStore.
func (s *MemoryBudgetStore) Spent(_ context.Context, keyHash, day string) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit, ok := s.limits[keyHash]
	if !ok {
		limit = -1
	}
	if day != s.day {
		return 0, limit, nil
	}
	return s.spent[keyHash], limit, nil
}

// Add implements BudgetStore.
func (s *MemoryBudgetStore) Add(_ context.Context, keyHash, day string, tokens int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if day != s.day {
		if day < s.day {
			return nil // an answer that ended after midnight, counted for a day already over
		}
		s.day = day
		clear(s.spent)
	}
	s.spent[keyHash] += tokens
	return nil
}
