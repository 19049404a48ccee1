package providers

// Target is where a call goes once its model is resolved: the
// provider/model, the alias that named it ("" for a raw name) and the base
// URL its client is given. A cache of answers keys on it.
type Target struct {
	Model   string
	Alias   string
	BaseURL string
}

// Targeter is a Caller that can say where a call would go without making
// it. ok is false when the call would go nowhere (a mock answers) or its
// model does not resolve (the call itself then says why).
type Targeter interface {
	Target(req Request) (t Target, ok bool)
}

// TargetOf asks c where req would go; false when c cannot say.
func TargetOf(c Caller, req Request) (Target, bool) {
	if t, ok := c.(Targeter); ok {
		return t.Target(req)
	}
	return Target{}, false
}

// Target resolves req's model as Call would.
func (c *caller) Target(req Request) (Target, bool) {
	if c.opts.Getenv(EnvMockResponse) != "" {
		return Target{}, false
	}
	res, err := c.reg.Resolve(req.Model, req.env(c.opts.Getenv))
	if err != nil {
		return Target{}, false
	}
	return Target{Model: res.Model, Alias: res.Alias, BaseURL: c.baseURL(res)}, true
}
