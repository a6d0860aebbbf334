package classic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/oauth2"
)

// StoreKey identifies a token in a TokenStore, as PyCentral's cache file name
// tok_<customer_id>_<client_id>.json does.
type StoreKey struct {
	CustomerID string
	ClientID   string
}

// String returns the cache file name stem tok_<customer_id>_<client_id>.
func (k StoreKey) String() string { return "tok_" + k.CustomerID + "_" + k.ClientID }

// TokenStore persists the current token. Refresh tokens rotate, so Save is
// called after every login and refresh, and must not lose the previous token
// if it fails part-way. Implementations must be safe for concurrent use.
type TokenStore interface {
	// Load returns the stored token, or (nil, nil) when there is none.
	Load(ctx context.Context, key StoreKey) (*oauth2.Token, error)
	// Save replaces the stored token.
	Save(ctx context.Context, key StoreKey, tok *oauth2.Token) error
}

// FileStore is PyCentral's token cache: one JSON file per key,
// <Dir>/tok_<customer_id>_<client_id>.json, written with mode 0600 through a
// temporary file, fsync and an atomic rename, so a crash never leaves a
// truncated file and a rotated refresh token is never lost half-written.
// The directory is created (0700) if needed.
type FileStore struct {
	Dir string
}

// NewFileStore returns a FileStore writing into dir.
func NewFileStore(dir string) *FileStore { return &FileStore{Dir: dir} }

// Path returns the file of key.
func (s *FileStore) Path(key StoreKey) (string, error) {
	for _, v := range []string{key.CustomerID, key.ClientID} {
		if v == "" || strings.ContainsAny(v, "/\\\x00") || v == "." || v == ".." {
			return "", fmt.Errorf("classic: token store: customer_id and client_id must be non-empty and free of path separators")
		}
	}
	return filepath.Join(s.Dir, key.String()+".json"), nil
}

// storedToken is the file format: PyCentral's keys plus expiry.
type storedToken struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type,omitempty"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
	Expiry       string `json:"expiry,omitempty"` // RFC 3339
}

// Load reads the token file; a missing file is (nil, nil).
func (s *FileStore) Load(ctx context.Context, key StoreKey) (*oauth2.Token, error) {
	p, err := s.Path(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("classic: token store: %w", err)
	}
	var st storedToken
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("classic: token store: %s is not a token file", p)
	}
	if st.AccessToken == "" {
		return nil, nil
	}
	return fromStored(st), nil
}

// Save writes the token file atomically with mode 0600.
func (s *FileStore) Save(ctx context.Context, key StoreKey, tok *oauth2.Token) error {
	if tok == nil {
		return errors.New("classic: token store: nil token")
	}
	p, err := s.Path(key)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(toStored(tok), "", "  ")
	if err != nil {
		return fmt.Errorf("classic: token store: %w", err)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("classic: token store: %w", err)
	}
	f, err := os.CreateTemp(s.Dir, "."+key.String()+".*.tmp")
	if err != nil {
		return fmt.Errorf("classic: token store: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("classic: token store: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("classic: token store: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("classic: token store: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("classic: token store: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("classic: token store: %w", err)
	}
	ok = true
	if d, err := os.Open(s.Dir); err == nil { // persist the rename (best effort)
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// MemoryStore keeps tokens in memory (tests, or callers persisting tokens
// themselves through another TokenStore wrapper).
type MemoryStore struct {
	mu sync.Mutex
	m  map[StoreKey]oauth2.Token
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[StoreKey]oauth2.Token{}} }

// Load returns a copy of the stored token or (nil, nil).
func (s *MemoryStore) Load(_ context.Context, key StoreKey) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	return &t, nil
}

// Save stores a copy of tok.
func (s *MemoryStore) Save(_ context.Context, key StoreKey, tok *oauth2.Token) error {
	if tok == nil {
		return errors.New("classic: token store: nil token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[StoreKey]oauth2.Token{}
	}
	s.m[key] = oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, Expiry: tok.Expiry, ExpiresIn: tok.ExpiresIn}
	return nil
}
