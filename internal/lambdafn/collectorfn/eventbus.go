package collectorfn

import "github.com/centralmsp/centralmsp/internal/events"

// EnvEventBus names the EventBridge bus the collector's events go to
// (template parameter EventBusName); unset means the default bus. It is
// events.EnvBus, spelled here for the template check.
const EnvEventBus = "CENTRALMSP_EVENT_BUS"

// EventBus returns the bus to publish to, from CENTRALMSP_EVENT_BUS.
func EventBus() string { return events.BusFromEnv() }

// PublishedSource is the source of the events the collector publishes
// (never one that invokes it).
const PublishedSource = events.Source
