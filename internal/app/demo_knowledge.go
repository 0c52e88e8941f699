package app

import (
	"context"

	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/store"
)

// demoKnowledge is what the demo clinic's assistant knows. The built-in
// provider answers from it, with citations.
var demoKnowledge = []knowledge.Upload{
	{Kind: store.KnowledgeMarkdown, Name: "Opening hours and location", Data: []byte(`# Opening hours and location

Smile Clinic is open Monday to Friday from 8:00 to 18:00 and on Saturday from 9:00 to 13:00. We are closed on Sundays and public holidays.

The clinic is at 12 Harbour Street, on the second floor, with a lift. The nearest tram stop is Harbour Square, two minutes on foot. Parking is free for patients in the courtyard behind the building.
`)},
	{Kind: store.KnowledgeMarkdown, Name: "Appointments and emergencies", Data: []byte(`# Appointments and emergencies

You can book an appointment by phone on +44 20 7946 0123, by email at hello@smileclinic.example or at the front desk. New patients are welcome; please arrive ten minutes early to fill in the health form.

If you need to cancel, please tell us at least 24 hours ahead; late cancellations may be charged 25 pounds.

For a dental emergency such as strong pain, swelling or a knocked-out tooth, call us as early as possible: we keep emergency slots every weekday morning. Outside opening hours, call the NHS 111 service.
`)},
	{Kind: store.KnowledgeMarkdown, Name: "Treatments and prices", Data: []byte(`# Treatments and prices

A check-up with a dentist costs 45 pounds and takes about 20 minutes. A hygienist cleaning (scale and polish) costs 60 pounds and takes 30 minutes.

Teeth whitening at the clinic costs 350 pounds; a home whitening kit with custom trays costs 250 pounds. White fillings start at 90 pounds. We also offer children's dentistry, root canal treatment, crowns, bridges and clear aligners.

Children under 12 get their check-up free when they come with a parent who is a patient. We accept card payments and offer interest-free payment plans for treatments over 500 pounds.
`)},
}

// seedDemoKnowledge queues the demo clinic's documents for ingestion; the
// knowledge worker the App runs (knowledge_wiring.go) indexes them.
func (a *App) seedDemoKnowledge(ctx context.Context, orgID, chatbotID string) error {
	ks := a.Knowledge
	if ks == nil {
		ks = knowledge.New(knowledge.Config{DB: a.DB, Fetcher: fetch.New(fetch.Options{Security: a.Security}), Security: a.Security, Logger: a.Logger})
	}
	ns := knowledge.Namespace{OrgID: orgID, ChatbotID: chatbotID}
	for _, up := range demoKnowledge {
		if _, err := ks.AddUpload(ctx, ns, up); err != nil {
			return err
		}
	}
	return nil
}
