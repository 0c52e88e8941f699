package chat

import (
	"fmt"
	"slices"
	"time"

	"github.com/porthole-chat/porthole/internal/store"
)

// InActiveHours reports whether now falls inside the settings' active hours
// in their time zone. No active hours means always online; an unloadable
// time zone counts as UTC (settings are validated when saved).
func InActiveHours(s store.WidgetSettings, now time.Time) bool {
	if len(s.ActiveHours) == 0 {
		return true
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	local := now.In(loc)
	hhmm := fmt.Sprintf("%02d:%02d", local.Hour(), local.Minute())
	day := int(local.Weekday())
	for _, h := range s.ActiveHours {
		if slices.Contains(h.Days, day) && hhmm >= h.Start && hhmm < h.End {
			return true
		}
	}
	return false
}
