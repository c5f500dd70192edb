package ledgerstore

type lruLinks struct {
	prev, next *runState
	in         bool
}

// lruList is an intrusive doubly linked list over one of runState.links.
type lruList struct {
	which      int
	head, tail *runState
	n          int
}

func (l *lruList) pushFront(rs *runState) {
	lk := &rs.links[l.which]
	lk.prev, lk.next, lk.in = nil, l.head, true
	if l.head != nil {
		l.head.links[l.which].prev = rs
	}
	l.head = rs
	if l.tail == nil {
		l.tail = rs
	}
	l.n++
}

func (l *lruList) remove(rs *runState) {
	lk := &rs.links[l.which]
	if !lk.in {
		return
	}
	if lk.prev != nil {
		lk.prev.links[l.which].next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nil {
		lk.next.links[l.which].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	*lk = lruLinks{}
	l.n--
}

func (l *lruList) touch(rs *runState) {
	if rs.links[l.which].in && l.head != rs {
		l.remove(rs)
		l.pushFront(rs)
	}
}
