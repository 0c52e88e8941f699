package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Analytics (issue 5): the chat service's per-day, per-chatbot figures of
// the conversations the member may see (automated traffic already left
// out), as a server-rendered SVG chart and tables. The chart is built from
// html/template (templates/analytics.html) with numbers computed here; it
// uses presentation attributes and classes from the stylesheet, never a
// style attribute, so it passes the strict CSP.

// analyticsDefaultDays is the range shown without a "days" parameter.
const analyticsDefaultDays = 30

// analyticsRanges are the ranges the page offers, in days.
var analyticsRanges = []int{7, 30, 90, 365}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 720.0
	chartHeight = 240.0
	chartLeft   = 44.0 // room for the y-axis labels
	chartRight  = 12.0
	chartTop    = 12.0
	chartBottom = 36.0 // room for the x-axis labels
)

// analyticsTotals sums rows.
type analyticsTotals struct {
	Conversations, Messages, HandedOff, ResolvedByAssistant, ResolvedByAgent int64
	HandoffRate                                                              string
}

func (t *analyticsTotals) add(r store.AnalyticsRow) {
	t.Conversations += r.Conversations
	t.Messages += r.Messages
	t.HandedOff += r.HandedOff
	t.ResolvedByAssistant += r.ResolvedByAssistant
	t.ResolvedByAgent += r.ResolvedByAgent
}

func (t *analyticsTotals) finish() {
	t.HandoffRate = percent(t.HandedOff, t.Conversations)
}

func percent(n, of int64) string {
	if of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

// dayRow is one day of the chart and table, all chatbots together.
type dayRow struct {
	Day string
	analyticsTotals
}

// chatbotTotals is one chatbot's totals over the range.
type chatbotTotals struct {
	Name string
	analyticsTotals
}

// chartBar is one bar (conversations of a day); X, Y, Width, Height in
// user units. Handed is the part handed off, drawn over it.
type chartBar struct {
	X, Y, Width, Height      float64
	HandedY, HandedHeight    float64
	Label                    string // the bar's title (tooltip)
	DayLabel                 string // shown under some bars
	LabelX                   float64
	ShowLabel                bool
	Conversations, HandedOff int64
}

type chartTick struct {
	Y     float64
	Label string
}

// analyticsChart is the SVG's geometry.
type analyticsChart struct {
	Width, Height     float64
	Left, Right       float64
	Top, Bottom       float64 // y of the plot's top and of its x axis
	Bars              []chartBar
	Ticks             []chartTick
	MessagesLine      string // polyline points, messages on the right scale
	MessagesMax       int64
	ConversationsMax  int64
	Empty             bool
	Title, Descriptor string
}

// analyticsPage is the Data of the analytics page.
type analyticsPage struct {
	Days      int
	Ranges    []rangeChoice
	ChatbotID string
	Chatbots  []chatbotChoice
	Since     string
	Until     string // inclusive, for display
	Totals    analyticsTotals
	ByDay     []dayRow
	ByChatbot []chatbotTotals
	Chart     analyticsChart
}

type rangeChoice struct {
	Days    int
	Path    string
	Current bool
}

func (d *Dashboard) analyticsPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	ctx := r.Context()
	days := analyticsDefaultDays
	if v := r.URL.Query().Get("days"); v != "" {
		n := 0
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 1 || n > 366 {
			return porthole.Errorf(porthole.EINVALID, "days must be from 1 to 366")
		}
		days = n
	}
	chatbotID := r.URL.Query().Get("chatbot_id")
	bots, names, err := d.visibleChatbots(ctx, p)
	if err != nil {
		return err
	}
	if chatbotID != "" && names[chatbotID] == "" {
		return porthole.Errorf(porthole.ENOTFOUND, "chatbot not found")
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	since, until := today.AddDate(0, 0, 1-days), today.AddDate(0, 0, 1)
	rows, err := d.chat.Analytics(ctx, p, since, until)
	if err != nil {
		return err
	}
	page := analyticsPage{Days: days, ChatbotID: chatbotID, Since: since.Format(time.DateOnly), Until: today.Format(time.DateOnly)}
	for _, n := range analyticsRanges {
		q := url.Values{"days": {fmt.Sprint(n)}}
		if chatbotID != "" {
			q.Set("chatbot_id", chatbotID)
		}
		page.Ranges = append(page.Ranges, rangeChoice{Days: n, Path: BasePath + "analytics?" + q.Encode(), Current: n == days})
	}
	for _, c := range bots {
		page.Chatbots = append(page.Chatbots, chatbotChoice{ID: c.ID, Name: c.Name, Selected: c.ID == chatbotID})
	}
	byDay := map[string]*dayRow{}
	byBot := map[string]*chatbotTotals{}
	for _, row := range rows {
		if chatbotID != "" && row.ChatbotID != chatbotID {
			continue
		}
		dr := byDay[row.Day]
		if dr == nil {
			dr = &dayRow{Day: row.Day}
			byDay[row.Day] = dr
		}
		dr.add(row)
		bt := byBot[row.ChatbotID]
		if bt == nil {
			name := names[row.ChatbotID]
			if name == "" {
				name = "(deleted chatbot)"
			}
			bt = &chatbotTotals{Name: visible(name)}
			byBot[row.ChatbotID] = bt
		}
		bt.add(row)
		page.Totals.add(row)
	}
	page.Totals.finish()
	// Every day of the range, including the quiet ones, in order.
	for day := since; day.Before(until); day = day.AddDate(0, 0, 1) {
		key := day.Format(time.DateOnly)
		dr := byDay[key]
		if dr == nil {
			dr = &dayRow{Day: key}
		}
		dr.finish()
		page.ByDay = append(page.ByDay, *dr)
	}
	for _, bt := range byBot {
		bt.finish()
		page.ByChatbot = append(page.ByChatbot, *bt)
	}
	sort.Slice(page.ByChatbot, func(i, j int) bool {
		if page.ByChatbot[i].Conversations != page.ByChatbot[j].Conversations {
			return page.ByChatbot[i].Conversations > page.ByChatbot[j].Conversations
		}
		return page.ByChatbot[i].Name < page.ByChatbot[j].Name
	})
	page.Chart = buildChart(page.ByDay)
	v := d.frame(r, p, "analytics", "Analytics")
	v.Data = page
	d.render(w, r, "analytics", v)
	return nil
}

// buildChart lays out the bars (conversations per day, the handed-off part
// drawn over them) and the messages line (on its own scale).
func buildChart(days []dayRow) analyticsChart {
	c := analyticsChart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartWidth - chartRight,
		Top: chartTop, Bottom: chartHeight - chartBottom,
		Title: "Conversations per day", Descriptor: "Bars: conversations per day; darker part: handed to a person; line: messages per day."}
	for _, d := range days {
		c.ConversationsMax = max(c.ConversationsMax, d.Conversations)
		c.MessagesMax = max(c.MessagesMax, d.Messages)
	}
	c.Empty = c.ConversationsMax == 0 && c.MessagesMax == 0
	scale := niceMax(c.ConversationsMax)
	msgScale := niceMax(c.MessagesMax)
	plotH := c.Bottom - c.Top
	slot := (c.Right - c.Left) / float64(max(1, len(days)))
	barW := slot * 0.7
	labelEvery := max(1, len(days)/8)
	var points []string
	for i, d := range days {
		x := c.Left + float64(i)*slot + (slot-barW)/2
		h := plotH * float64(d.Conversations) / float64(scale)
		hh := plotH * float64(d.HandedOff) / float64(scale)
		b := chartBar{X: round2(x), Width: round2(barW), Y: round2(c.Bottom - h), Height: round2(h),
			HandedY: round2(c.Bottom - hh), HandedHeight: round2(hh),
			Label:    fmt.Sprintf("%s: %d conversations, %d handed off, %d messages", d.Day, d.Conversations, d.HandedOff, d.Messages),
			DayLabel: d.Day[5:], LabelX: round2(x + barW/2), ShowLabel: i%labelEvery == 0,
			Conversations: d.Conversations, HandedOff: d.HandedOff}
		c.Bars = append(c.Bars, b)
		my := c.Bottom - plotH*float64(d.Messages)/float64(msgScale)
		points = append(points, fmt.Sprintf("%.2f,%.2f", x+barW/2, my))
	}
	c.MessagesLine = strings.Join(points, " ")
	for i := 0; i <= 4; i++ {
		v := scale * int64(i) / 4
		c.Ticks = append(c.Ticks, chartTick{Y: round2(c.Bottom - plotH*float64(v)/float64(scale)), Label: fmt.Sprint(v)})
	}
	return c
}

// niceMax rounds a maximum up to a value with round quarter ticks.
func niceMax(n int64) int64 {
	if n <= 4 {
		return 4
	}
	step := int64(1)
	for step*10 <= n {
		step *= 10
	}
	for _, m := range []int64{1, 2, 4, 5, 8, 10} {
		if step*m >= n && (step*m)%4 == 0 {
			return step * m
		}
	}
	return (n + 3) / 4 * 4
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
