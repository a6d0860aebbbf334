package collectorfn

import (
	"sync"
	"testing"

	"github.com/centralmsp/centralmsp/internal/eventschema"
)

// eventSchemas compiles events/schemas once for the package's tests.
var eventSchemas = sync.OnceValues(func() (eventschema.Set, error) { return eventschema.Load("../../../events") })

// checkSchemas validates every received event's detail against the schema
// of its detail type.
func checkSchemas(t *testing.T, evs []busEvent) {
	t.Helper()
	schs, err := eventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := schs.Validate(e.DetailType, e.Detail); err != nil {
			t.Errorf("%s event does not match its schema: %v\n%s", e.DetailType, err, e.Detail)
		}
	}
}
