// Package holdlog is the write-ahead log behind steproute's hold: step data
// waiting for its run id is appended to segment files before the request
// that brought it is acknowledged, released entries are tombstoned, and a
// segment is deleted once nothing in it is live. Open replays what is still
// live, so a crash or a restart loses nothing that was acknowledged.
//
// Record framing (little endian): magic "RLh1", body length u32, CRC-32C of
// the body u32, body. An entry's body is kind 1, id u64, signal u8, trace id
// [16], arrival (unix ns) i64, payload; a tombstone's is kind 2, id u64,
// segment u64. A record that fails its length or checksum is skipped by
// searching for the next magic, so garbage in the middle of a segment costs
// only the records it overwrote.
package holdlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sync policies, named as the ledger writer's fsync modes.
const (
	SyncAlways   = "always"
	SyncInterval = "interval"
	SyncNever    = "never"
)

const (
	magic      = "RLh1"
	headerSize = 12
	kindEntry  = 1
	kindTomb   = 2
	entryFixed = 1 + 8 + 1 + 16 + 8
	tombSize   = 1 + 8 + 8
	// maxBody bounds a record; anything larger read back is corruption.
	maxBody = 256 << 20
	segExt  = ".hold"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Loc is where an entry's payload is stored.
type Loc struct {
	Seg uint64
	Off int64 // of the payload
	Len int32
}

// Entry is a record of held data.
type Entry struct {
	ID      uint64
	Signal  byte
	Trace   [16]byte
	Arrival int64 // unix nanoseconds of first arrival
	Payload []byte
	Loc     Loc
}

// Stats tells what Open found.
type Stats struct {
	Live     int // entries replayed
	Released int // entries found tombstoned
	Corrupt  int // stretches of bytes skipped as corrupt or torn
}

// Config configures a Log.
type Config struct {
	Dir string
	// Sync is SyncAlways (fsync before Append returns), SyncInterval
	// (fsync every SyncEvery) or SyncNever (left to the kernel).
	Sync      string
	SyncEvery time.Duration
	// SegmentBytes starts a new segment once the current one is larger.
	SegmentBytes int64
}

// Log is an open hold log. Its methods are safe for concurrent use.
type Log struct {
	cfg Config

	mu      sync.Mutex
	cur     *os.File
	curSeg  uint64
	curSize int64
	live    map[uint64]int // segment -> live entries
	files   map[uint64]*os.File
	nextID  uint64
	dirty   bool
	closed  bool
	buf     []byte

	stop chan struct{}
	done chan struct{}
}

// Open opens (creating) the log in cfg.Dir and returns the entries still
// live, oldest first.
func Open(cfg Config) (*Log, []Entry, Stats, error) {
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = 64 << 20
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = time.Second
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, nil, Stats{}, fmt.Errorf("create hold directory %q: %w", cfg.Dir, err)
	}
	l := &Log{cfg: cfg, live: map[uint64]int{}, files: map[uint64]*os.File{}}
	segs, err := l.segments()
	if err != nil {
		return nil, nil, Stats{}, err
	}
	var st Stats
	entries := map[uint64]Entry{}
	for _, s := range segs {
		if err := l.replay(s, entries, &st); err != nil {
			l.closeFiles()
			return nil, nil, Stats{}, err
		}
	}
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		out = append(out, e)
		l.live[e.Loc.Seg]++
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	st.Live = len(out)
	// Segments with nothing live are done with.
	for _, s := range segs {
		if l.live[s] == 0 {
			l.removeSeg(s)
		}
	}
	next := uint64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	if err := l.startSegment(next); err != nil {
		l.closeFiles()
		return nil, nil, Stats{}, err
	}
	if cfg.Sync == SyncInterval {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.syncLoop()
	}
	return l, out, st, nil
}

func segName(s uint64) string { return fmt.Sprintf("%016x%s", s, segExt) }

func (l *Log) segments() ([]uint64, error) {
	des, err := os.ReadDir(l.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("list hold directory %q: %w", l.cfg.Dir, err)
	}
	var segs []uint64
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !strings.HasSuffix(name, segExt) {
			continue
		}
		s, err := strconv.ParseUint(strings.TrimSuffix(name, segExt), 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, s)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	return segs, nil
}

// replay reads segment s, adding its entries to live and applying its
// tombstones.
func (l *Log) replay(s uint64, live map[uint64]Entry, st *Stats) error {
	p := filepath.Join(l.cfg.Dir, segName(s))
	f, err := os.OpenFile(p, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return fmt.Errorf("open hold segment %q: %w", p, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("read hold segment %q: %w", p, err)
	}
	l.files[s] = f
	off := 0
	bad := false
	for off < len(data) {
		body, n, ok := parse(data[off:])
		if !ok {
			if !bad {
				st.Corrupt++
				bad = true
			}
			i := bytes.Index(data[off+1:], []byte(magic))
			if i < 0 {
				break
			}
			off += 1 + i
			continue
		}
		bad = false
		switch body[0] {
		case kindEntry:
			if len(body) < entryFixed {
				st.Corrupt++
				break
			}
			e := Entry{ID: binary.LittleEndian.Uint64(body[1:]), Signal: body[9]}
			copy(e.Trace[:], body[10:26])
			e.Arrival = int64(binary.LittleEndian.Uint64(body[26:]))
			payOff := off + headerSize + entryFixed
			e.Payload = data[payOff : off+n : off+n]
			e.Loc = Loc{Seg: s, Off: int64(payOff), Len: int32(len(e.Payload))}
			live[e.ID] = e
			if e.ID >= l.nextID {
				l.nextID = e.ID + 1
			}
		case kindTomb:
			if len(body) < tombSize {
				st.Corrupt++
				break
			}
			id := binary.LittleEndian.Uint64(body[1:])
			if _, ok := live[id]; ok {
				delete(live, id)
				st.Released++
			}
		default:
			st.Corrupt++
		}
		off += n
	}
	return nil
}

// parse returns the body of the record at the start of b and the record's
// size, or false when there is no valid record there.
func parse(b []byte) ([]byte, int, bool) {
	if len(b) < headerSize || string(b[:4]) != magic {
		return nil, 0, false
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if n == 0 || n > maxBody || int(n) > len(b)-headerSize {
		return nil, 0, false
	}
	body := b[headerSize : headerSize+int(n)]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[8:]) {
		return nil, 0, false
	}
	return body, headerSize + int(n), true
}

func (l *Log) startSegment(s uint64) error {
	p := filepath.Join(l.cfg.Dir, segName(s))
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL|noFollow, 0o644)
	if err != nil {
		return fmt.Errorf("create hold segment %q: %w", p, err)
	}
	if err := syncDir(l.cfg.Dir); err != nil {
		f.Close()
		return err
	}
	l.cur, l.curSeg, l.curSize = f, s, 0
	l.files[s] = f
	l.live[s] += 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open hold directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync hold directory %q: %w", dir, err)
	}
	return nil
}

// NewEntry is what Append stores.
type NewEntry struct {
	Signal  byte
	Trace   [16]byte
	Arrival int64
	Payload []byte
}

// Append stores entries in one write (synced as configured) and returns
// their ids and locations. On error nothing of the call counts as stored.
func (l *Log) Append(es []NewEntry) ([]uint64, []Loc, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, errors.New("hold log is closed")
	}
	if l.curSize >= l.cfg.SegmentBytes {
		if err := l.rotate(); err != nil {
			return nil, nil, err
		}
	}
	b := l.buf[:0]
	ids := make([]uint64, len(es))
	locs := make([]Loc, len(es))
	for i, e := range es {
		l.nextID++
		ids[i] = l.nextID
		start := len(b)
		b = append(b, magic...)
		b = binary.LittleEndian.AppendUint32(b, uint32(entryFixed+len(e.Payload)))
		b = append(b, 0, 0, 0, 0)
		b = append(b, kindEntry)
		b = binary.LittleEndian.AppendUint64(b, ids[i])
		b = append(b, e.Signal)
		b = append(b, e.Trace[:]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Arrival))
		payOff := len(b)
		b = append(b, e.Payload...)
		binary.LittleEndian.PutUint32(b[start+8:], crc32.Checksum(b[start+headerSize:], crcTable))
		locs[i] = Loc{Seg: l.curSeg, Off: l.curSize + int64(payOff), Len: int32(len(e.Payload))}
	}
	if err := l.writeLocked(b); err != nil {
		return nil, nil, err
	}
	if cap(b) <= 1<<20 {
		l.buf = b[:0]
	}
	l.live[l.curSeg] += len(es)
	if l.cfg.Sync == SyncAlways {
		if err := l.cur.Sync(); err != nil {
			return nil, nil, fmt.Errorf("sync hold segment: %w", err)
		}
	} else {
		l.dirty = true
	}
	return ids, locs, nil
}

// writeLocked appends b to the current segment; a short write is cut back
// so the segment never keeps half a record that a later one would follow.
func (l *Log) writeLocked(b []byte) error {
	n, err := l.cur.WriteAt(b, l.curSize)
	if err != nil {
		if n > 0 {
			_ = l.cur.Truncate(l.curSize)
		}
		return fmt.Errorf("append to hold segment %s: %w", segName(l.curSeg), err)
	}
	l.curSize += int64(n)
	return nil
}

func (l *Log) rotate() error {
	if err := l.cur.Sync(); err != nil {
		return fmt.Errorf("sync hold segment: %w", err)
	}
	old := l.curSeg
	if err := l.startSegment(old + 1); err != nil {
		return err
	}
	if l.live[old] == 0 {
		l.removeSeg(old)
	}
	return nil
}

// Read returns the payload stored at loc.
func (l *Log) Read(loc Loc) ([]byte, error) {
	l.mu.Lock()
	f := l.files[loc.Seg]
	l.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("hold segment %s is gone", segName(loc.Seg))
	}
	b := make([]byte, loc.Len)
	if _, err := f.ReadAt(b, loc.Off); err != nil {
		return nil, fmt.Errorf("read hold segment %s: %w", segName(loc.Seg), err)
	}
	return b, nil
}

// Release tombstones entries (id with its location); a segment left with
// nothing live is deleted. A lost tombstone only means the entry is sent
// again after a restart, where the ledger's event_id dedupe drops it.
func (l *Log) Release(ids []uint64, locs []Loc) error {
	if len(ids) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("hold log is closed")
	}
	b := l.buf[:0]
	for i, id := range ids {
		start := len(b)
		b = append(b, magic...)
		b = binary.LittleEndian.AppendUint32(b, tombSize)
		b = append(b, 0, 0, 0, 0, kindTomb)
		b = binary.LittleEndian.AppendUint64(b, id)
		b = binary.LittleEndian.AppendUint64(b, locs[i].Seg)
		binary.LittleEndian.PutUint32(b[start+8:], crc32.Checksum(b[start+headerSize:], crcTable))
	}
	err := l.writeLocked(b)
	if cap(b) <= 1<<20 {
		l.buf = b[:0]
	}
	if err != nil {
		return err
	}
	l.dirty = true
	for _, loc := range locs {
		if _, ok := l.live[loc.Seg]; !ok {
			continue
		}
		l.live[loc.Seg]--
		if l.live[loc.Seg] <= 0 && loc.Seg != l.curSeg {
			l.removeSeg(loc.Seg)
		}
	}
	// The current segment with nothing live in it starts over, so an idle
	// hold keeps no file of tombstones around.
	if l.live[l.curSeg] == 0 && l.curSize > 0 && len(l.live) == 1 {
		if err := l.cur.Truncate(0); err == nil {
			l.curSize = 0
		}
	}
	return nil
}

func (l *Log) removeSeg(s uint64) {
	if f := l.files[s]; f != nil {
		f.Close()
		delete(l.files, s)
	}
	delete(l.live, s)
	_ = os.Remove(filepath.Join(l.cfg.Dir, segName(s)))
}

// Live returns the number of entries not released.
func (l *Log) Live() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.live {
		n += c
	}
	return n
}

func (l *Log) syncLoop() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Sync()
		}
	}
}

// Sync flushes the current segment to stable storage if anything was
// written since the last sync.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || !l.dirty {
		return nil
	}
	l.dirty = false
	if err := l.cur.Sync(); err != nil {
		return fmt.Errorf("sync hold segment: %w", err)
	}
	return nil
}

// Close syncs and closes the log; live entries stay for the next Open.
func (l *Log) Close() error {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	var err error
	if l.cfg.Sync != SyncNever {
		err = l.cur.Sync()
	}
	l.closed = true
	empty := l.live[l.curSeg] == 0
	cur := l.curSeg
	l.closeFiles()
	if empty {
		_ = os.Remove(filepath.Join(l.cfg.Dir, segName(cur)))
	}
	return err
}

func (l *Log) closeFiles() {
	for s, f := range l.files {
		f.Close()
		delete(l.files, s)
	}
}
