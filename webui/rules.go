package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"subgate/proxy/errrules"
)

// UIRule is an error rule added in the admin UI: an errrules.Rule with the
// id that edits and deletes name it by.
type UIRule struct {
	ID string `json:"id"`
	errrules.Rule
}

// ErrorRules manages the error rules (docs/error-rules.md): the config
// file's, read-only, then the ones added here, tried in that order before
// the built-in defaults. Admin implements it over kv (Admin.Rules).
type ErrorRules interface {
	// List returns the config's rules and the UI's, each in the order
	// they are tried.
	List() (config []errrules.Rule, ui []UIRule, err error)
	// Add appends a rule to the UI's and applies the rules at once.
	Add(ctx context.Context, r errrules.Rule) (UIRule, error)
	// Update replaces the UI rule id; ErrNotFound when there is none.
	Update(ctx context.Context, id string, r errrules.Rule) error
	// Delete removes the UI rule id; ErrNotFound when there is none.
	Delete(ctx context.Context, id string) error
}

// maxUIRules bounds the rules added here: every upstream error is matched
// against each.
const maxUIRules = 100

// Rules returns the Admin's ErrorRules.
func (a *Admin) Rules() ErrorRules { return adminRules{a} }

type adminRules struct{ a *Admin }

var _ ErrorRules = adminRules{}

// rulesDoc is the UI rules as kept in kv: the list and the next id.
type rulesDoc struct {
	Next  int      `json:"next"`
	Rules []UIRule `json:"rules"`
}

// load reads the stored rules; none stored is an empty list.
func (r adminRules) load() (rulesDoc, error) {
	var d rulesDoc
	raw, err := r.a.cfg.Store.LoadErrorRules()
	if err != nil || raw == nil {
		return d, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("stored error rules: %w", err)
	}
	return d, nil
}

// UIRules returns the stored UI rules for the gateway's engine (at start).
func (a *Admin) UIRules() ([]errrules.Rule, error) {
	d, err := adminRules{a}.load()
	return plain(d.Rules), err
}

func plain(rules []UIRule) []errrules.Rule {
	out := make([]errrules.Rule, len(rules))
	for i, r := range rules {
		out[i] = r.Rule
	}
	return out
}

// List implements ErrorRules.
func (r adminRules) List() ([]errrules.Rule, []UIRule, error) {
	d, err := r.load()
	return slices.Clone(r.a.cfg.ErrorRules), d.Rules, err
}

// Add implements ErrorRules. A rule without a name is named after its id,
// so reasons and logs keep naming it whatever is added before it.
func (r adminRules) Add(ctx context.Context, rule errrules.Rule) (UIRule, error) {
	if err := checkRule(rule); err != nil {
		return UIRule{}, err
	}
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	d, err := r.load()
	if err != nil {
		return UIRule{}, err
	}
	if len(d.Rules) >= maxUIRules {
		return UIRule{}, &FieldError{Field: "rule", Msg: "at most " + strconv.Itoa(maxUIRules) + " rules; delete one first"}
	}
	d.Next++
	ui := UIRule{ID: strconv.Itoa(d.Next), Rule: rule}
	if ui.Name == "" {
		ui.Name = "ui-" + ui.ID
	}
	d.Rules = append(d.Rules, ui)
	if err := r.save(d); err != nil {
		return UIRule{}, err
	}
	a.cfg.Logger.Info("error rule added", "rule", ui.Name, "action", string(ui.Action))
	return ui, nil
}

// Update implements ErrorRules.
func (r adminRules) Update(ctx context.Context, id string, rule errrules.Rule) error {
	if err := checkRule(rule); err != nil {
		return err
	}
	return r.change(id, func(d *rulesDoc, i int) {
		if rule.Name == "" {
			rule.Name = "ui-" + id
		}
		d.Rules[i].Rule = rule
	})
}

// Delete implements ErrorRules.
func (r adminRules) Delete(ctx context.Context, id string) error {
	return r.change(id, func(d *rulesDoc, i int) { d.Rules = slices.Delete(d.Rules, i, i+1) })
}

// change applies edit to the UI rule id, then saves and applies the list.
func (r adminRules) change(id string, edit func(d *rulesDoc, i int)) error {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	d, err := r.load()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.Rules, func(u UIRule) bool { return u.ID == id })
	if i < 0 {
		return ErrNotFound
	}
	edit(&d, i)
	if err := r.save(d); err != nil {
		return err
	}
	a.cfg.Logger.Info("error rules changed", "rule", id)
	return nil
}

// save stores d and hands the gateway the new list, checked first as the
// engine will compile it, so that what is stored always applies.
func (r adminRules) save(d rulesDoc) error {
	ui := plain(d.Rules)
	if _, err := errrules.New(errrules.Config{Rules: append(slices.Clip(r.a.cfg.ErrorRules), ui...)}); err != nil {
		return err
	}
	doc, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := r.a.cfg.Store.SaveErrorRules(doc); err != nil {
		return err
	}
	if r.a.cfg.Gateway == nil {
		return nil
	}
	return r.a.cfg.Gateway.SetErrorRules(ui)
}

// ruleFields are the JSON (and TOML) names of a rule's fields, which
// errrules' messages start with.
var ruleFields = []string{"name", "platform", "account_type", "status", "contains", "regex", "action",
	"cooldown", "rewrite_status", "message"}

// checkRule validates one rule with errrules' own checks, answering the
// first problem as a FieldError naming the field.
func checkRule(r errrules.Rule) error {
	err := r.Validate()
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		err = j.Unwrap()[0]
	}
	msg := err.Error()
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok || !slices.Contains(ruleFields, field) {
		field, rest = "rule", msg
	}
	return &FieldError{Field: field, Msg: rest}
}
