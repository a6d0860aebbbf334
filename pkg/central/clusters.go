package central

import (
	"slices"
	"strings"
)

// cluster is one New Central API gateway.
type cluster struct {
	name, url string
}

// clusters lists the 16 New Central clusters exactly as PyCentral's
// CLUSTER_BASE_URLS and the servers list of HPE's New Central OpenAPI
// documents (https://developer.arubanetworks.com/new-central/docs/).
// It is read-only.
var clusters = [...]cluster{
	{"EU-1", "https://de1.api.central.arubanetworks.com"},
	{"EU-Central2", "https://de2.api.central.arubanetworks.com"},
	{"EU-Central3", "https://de3.api.central.arubanetworks.com"},
	{"UK", "https://gb1.api.central.arubanetworks.com"},
	{"US-1", "https://us1.api.central.arubanetworks.com"},
	{"US-2", "https://us2.api.central.arubanetworks.com"},
	{"US-WEST-4", "https://us4.api.central.arubanetworks.com"},
	{"US-WEST-5", "https://us5.api.central.arubanetworks.com"},
	{"US-East1", "https://us6.api.central.arubanetworks.com"},
	{"Canada-1", "https://ca1.api.central.arubanetworks.com"},
	{"APAC-1", "https://in1.api.central.arubanetworks.com"},
	{"APAC-EAST1", "https://jp1.api.central.arubanetworks.com"},
	{"APAC-SOUTH1", "https://au1.api.central.arubanetworks.com"},
	{"UAE", "https://ae1.api.central.arubanetworks.com"},
	{"China", "https://cn1.api.central.arubanetworks.com.cn"},
	{"Internal", "https://internal.api.central.arubanetworks.com"},
}

// ClusterURL returns the New Central API gateway URL of a cluster name such as
// "US-2" or "EU-1". Unlike PyCentral the lookup ignores case and surrounding
// spaces. The boolean reports whether the name is known.
func ClusterURL(name string) (string, bool) {
	name = strings.TrimSpace(name)
	for _, c := range clusters {
		if strings.EqualFold(c.name, name) {
			return c.url, true
		}
	}
	return "", false
}

// ClusterNames returns the 16 supported cluster names in PyCentral's order.
func ClusterNames() []string {
	names := make([]string, 0, len(clusters))
	for _, c := range clusters {
		names = append(names, c.name)
	}
	return slices.Clip(names)
}
