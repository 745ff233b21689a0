package mimewalk

// Found is one report part of a message, or one file of an archive, as
// the parsers of TLS reports (report) and DMARC reports (dmarc) give it:
// a part that could not be read has Err set and Report nil.
type Found[R any] struct {
	Report    *R
	Name      string // file name, else a part path such as "1.2"
	MediaType string // as declared, lower case
	Err       error
}

// Founds lists the report parts of one message in message order.
type Founds[R any] []Found[R]

// Reports returns the reports that could be read.
func (fs Founds[R]) Reports() []*R {
	var rs []*R
	for _, f := range fs {
		if f.Report != nil {
			rs = append(rs, f.Report)
		}
	}
	return rs
}

// Errs returns the errors of the parts that looked like a report but
// could not be read, in message order.
func (fs Founds[R]) Errs() []error {
	var errs []error
	for _, f := range fs {
		if f.Err != nil {
			errs = append(errs, f.Err)
		}
	}
	return errs
}

// Add appends f unless the list already holds max parts; it returns
// false, leaving the list as it was, when it does.
func (fs *Founds[R]) Add(f Found[R], max int) bool {
	if len(*fs) >= max {
		return false
	}
	*fs = append(*fs, f)
	return true
}

// Message is what a mail message tells about the reports of one kind it
// carries: where it comes from (ReadEnvelope) and every part that is or
// looks like a report, in message order.
type Message[R any] struct {
	Envelope
	Found Founds[R]
}

// Reports returns the reports that could be read.
func (m *Message[R]) Reports() []*R { return m.Found.Reports() }

// Errs returns the errors of the parts that looked like a report but
// could not be read, in message order.
func (m *Message[R]) Errs() []error { return m.Found.Errs() }
