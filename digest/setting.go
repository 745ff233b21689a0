package digest

import (
	"context"
	"encoding/json"

	"github.com/tlsrpt/tlsrpt/store"
)

// loadSetting reads the JSON the setting name holds (what the last
// digest of a host sent) into a T. An absent or unreadable record is the
// zero T: everything it would have held is news.
func loadSetting[T any](ctx context.Context, st *store.Store, name string) (T, error) {
	var v T
	s, _, ok, err := st.Setting(ctx, name)
	if err != nil || !ok {
		return v, err
	}
	if json.Unmarshal([]byte(s), &v) != nil {
		var zero T
		return zero, nil
	}
	return v, nil
}

// saveSetting keeps v as JSON in the setting name.
func saveSetting(ctx context.Context, st *store.Store, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.SetSetting(ctx, name, string(b))
}
