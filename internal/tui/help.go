package tui

// helpView lists the key bindings, in two columns when the terminal is wide
// enough.
func (m *model) helpView() []string {
	w := m.width
	var blocks [][]string
	for _, sec := range m.keys.helpSections() {
		b := []string{m.st.header.Render(sec.title)}
		for _, k := range sec.keys {
			h := k.Help()
			b = append(b, "  "+m.st.key.Render(fit(h.Key, 12))+" "+h.Desc)
		}
		blocks = append(blocks, b)
	}
	var body []string
	if w >= 80 {
		colW := w / 2
		var left, right []string
		for i, b := range blocks {
			if i < 2 {
				left = append(left, b...)
			} else {
				right = append(right, b...)
			}
		}
		for i := 0; i < max(len(left), len(right)); i++ {
			l, r := "", ""
			if i < len(left) {
				l = left[i]
			}
			if i < len(right) {
				r = right[i]
			}
			body = append(body, fit(l, colW)+r)
		}
	} else {
		for _, b := range blocks {
			body = append(body, b...)
		}
	}
	body = append(body, "", m.st.dim.Render("filter: / then e.g. status:failed service:retriever kind:ann timeout"),
		m.st.dim.Render("        stop:timeout code:index_not_found (why a run stopped)"),
		m.st.dim.Render("export: x writes "+m.outDir+"/<run>.json and .md"),
		m.st.dim.Render("markers: ✗ failed · ◆ stop reason · ⊘ cancelled · ↷ skipped · ▸ started"),
		m.st.dim.Render("spans:   ! failed span · * critical path · bar ▓ error status · steps ◆ ✗ • on it"))
	h := max(m.height-2, 1)
	m.helpOffset = clamp(m.helpOffset, 0, len(body)-h)
	end := min(m.helpOffset+h, len(body))
	lines := []string{m.titleBar(" runledger tui · keys", "any key closes ")}
	lines = append(lines, body[m.helpOffset:end]...)
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	return append(lines, m.st.dim.Render(cut("↑↓ scroll · any other key closes help", w)))
}
