package dmarc

import (
	"encoding/xml"
	"errors"
	"fmt"
)

// feedbackParser reads the children of the feedback element.
type feedbackParser struct {
	d   *xml.Decoder
	tr  *tokenReader
	b   *budget
	rep *Report

	meta     wireMetadata
	metaSeen bool
}

// run reads up to the end of feedback and returns the checked report.
func (p *feedbackParser) run() (*Report, error) {
	for {
		tok, err := p.d.Token()
		if err != nil {
			return nil, p.wrap(err)
		}
		switch t := tok.(type) {
		case xml.EndElement: // of feedback: the decoder checks nesting
			return p.finish()
		case xml.StartElement:
			if err := p.child(&t); err != nil {
				return nil, p.wrap(err)
			}
		}
	}
}

// child reads one child element of feedback.
func (p *feedbackParser) child(start *xml.StartElement) error {
	switch start.Name.Local {
	case "version":
		return p.d.DecodeElement(&p.rep.Version, start)
	case "report_metadata":
		p.metaSeen = true
		return p.d.DecodeElement(&p.meta, start)
	case "policy_published":
		var w wirePolicy
		if err := p.d.DecodeElement(&w, start); err != nil {
			return err
		}
		p.rep.Policy = w.toModel()
		return nil
	case "record":
		return p.record(start)
	}
	return p.d.Skip() // extension and elements of later versions
}

// record reads one record within the records bound.
func (p *feedbackParser) record(start *xml.StartElement) error {
	path := fmt.Sprintf("feedback/record[%d]", p.tr.record)
	if p.b.recordLeft <= 0 {
		return &PathError{Path: path, Err: tooLarge("more than %d records", p.b.lim.MaxRecords)}
	}
	p.b.recordLeft--
	var w wireRecord
	if err := p.d.DecodeElement(&w, start); err != nil {
		return err
	}
	rec, err := w.toModel(path)
	if err != nil {
		return err
	}
	p.rep.Records = append(p.rep.Records, rec)
	return nil
}

// finish checks what must be there once feedback has ended.
func (p *feedbackParser) finish() (*Report, error) {
	if !p.metaSeen {
		return nil, &PathError{Path: "feedback/report_metadata", Err: errors.New("missing")}
	}
	meta, err := p.meta.toModel("feedback/report_metadata")
	if err != nil {
		return nil, err
	}
	p.rep.Metadata = meta
	p.rep.Version = trim(p.rep.Version)
	return p.rep, nil
}

// wrap names the element where an error of the decoder happened, unless
// it names one already.
func (p *feedbackParser) wrap(err error) error {
	var pe *PathError
	if errors.As(err, &pe) || errors.Is(err, ErrDTD) {
		return err
	}
	return p.tr.pathError(err)
}
