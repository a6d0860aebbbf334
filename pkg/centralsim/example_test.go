package centralsim_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// A test starts the simulator in one line, gets an MSP token, exchanges it
// for a tenant token and reads the tenant's APs from New Central.
func ExampleNewServer() {
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = 3
		o.Seed = 1
	})
	defer sim.Close()
	hc := sim.Client()
	token := func(workspace string, form url.Values, basic bool) string {
		req, _ := http.NewRequest(http.MethodPost, sim.TokenURL(workspace), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(sim.MSP().ClientID, sim.MSP().ClientSecret)
		}
		res, err := hc.Do(req)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return strings.Split(strings.Split(string(b), `"access_token":"`)[1], `"`)[0]
	}
	msp := token(sim.MSP().WorkspaceID, url.Values{"grant_type": {"client_credentials"}}, true)
	tenant := sim.Tenants()[0]
	tok := token(tenant.HexID, url.Values{
		"grant_type":         {centralsim.GrantTokenExchange},
		"subject_token":      {msp},
		"subject_token_type": {centralsim.TokenTypeAccessToken},
	}, false)

	req, _ := http.NewRequest(http.MethodGet, sim.CentralURL()+"/network-monitoring/v1/aps?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := hc.Do(req)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println(res.StatusCode, len(sim.Records(tenant.HexID, centralsim.DatasetAPs)) == tenant.APs)
	// Output: 200 true
}
