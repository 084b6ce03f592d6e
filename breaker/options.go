package breaker

// Option configures New and NewSet.
type Option interface{ apply(*options) }

type options struct {
	onStateChange func(source string, from, to State, counts Counts)
	shared        Shared // WithShared
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithOnStateChange calls fn on every state change of a Breaker, for
// metrics: the source, the states, and the counts of the window that just
// ended. A nil fn means no hook (the default).
//
// fn runs outside every lock, after the call that caused the change, one
// change at a time per Breaker and in order; it may call the Breaker's
// methods. It should be quick: it runs on a statement's path.
func WithOnStateChange(fn func(source string, from, to State, counts Counts)) Option {
	return optionFunc(func(o *options) { o.onStateChange = fn })
}

func buildOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	return o
}
