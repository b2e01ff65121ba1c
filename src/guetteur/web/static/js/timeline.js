/*
 * Guetteur – the day timeline of the playback page: recorded spans, gaps coloured by reason,
 * the part of the day still to come, judicial holds (a hatched orange band along the top, with
 * the case reference when the server gives it), Paris-time ticks, the playhead, the clip
 * selection, a hover tooltip, click-to-seek, and zoom (whole day, 6 h, 1 h, 10 min around the
 * playhead).
 *
 * Invariants: positions are linear in UTC between the day's bounds given by the server, so a
 * 23- or 25-hour day (daylight saving change) is drawn correctly and its tick labels are Paris
 * wall-clock times; the view [viewStartUs, viewEndUs] always lies inside the day.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const REASONS = {
    camera_offline: 'caméra hors ligne',
    recorder_crashed: 'enregistreur interrompu',
    recorder_stopped: 'enregistreur arrêté',
    storage_error: 'erreur de stockage',
    node_lost: 'serveur perdu (reprise)',
    node_drained: 'serveur en maintenance (transfert)',
    rebalance: 'répartition entre serveurs',
    unknown: "pas d'enregistrement",
  };
  const MIN = 60e6;
  const HOUR = 3600e6;
  const TICK_STEPS_US = [MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR,
    3 * HOUR, 6 * HOUR];
  const MIN_LABEL_PX = 56;

  class Timeline {
    /**
     * @param {HTMLElement} root   the .timeline element (holds track, clip, playhead, tip)
     * @param {HTMLElement} axis   where tick labels go
     * @param {object} o  {dayStartUs, dayEndUs, onSeek(utcUs)}
     */
    constructor(root, axis, o) {
      this.root = root;
      this.axis = axis;
      this.track = root.querySelector('.tl-track');
      this.clipNode = root.querySelector('.tl-clip');
      this.playheadNode = root.querySelector('.tl-playhead');
      this.cursorNode = root.querySelector('.tl-cursor');
      this.tip = root.querySelector('.tl-tip');
      this.dayStartUs = o.dayStartUs;
      this.dayEndUs = o.dayEndUs;
      this.onSeek = o.onSeek;
      this.viewStartUs = this.dayStartUs;
      this.viewEndUs = this.dayEndUs;
      this.zoomS = 0;
      this.data = null;
      this.playheadUs = null;
      this.clip = null;

      root.addEventListener('click', (ev) => {
        const us = this.usAtClientX(ev.clientX);
        if (us != null && this.onSeek) this.onSeek(us);
      });
      root.addEventListener('mousemove', (ev) => this._hover(ev.clientX));
      root.addEventListener('mouseleave', () => { this.tip.hidden = true; this.cursorNode.hidden = true; });
      window.addEventListener('resize', () => this.render());
      this._syncDataset();
    }

    /** Timeline API answer: {spans, gaps, holds, now_utc_us}. */
    setData(data) {
      this.data = data;
      this.render();
    }

    setPlayhead(us) {
      this.playheadUs = us;
      if (us != null && this.zoomS && (us < this.viewStartUs || us > this.viewEndUs)) {
        this.setZoom(this.zoomS, us);
        return;
      }
      this._placePlayhead();
    }

    setClip(fromUs, toUs) {
      this.clip = fromUs != null && toUs != null && toUs > fromUs ? [fromUs, toUs] : null;
      this._placeClip();
    }

    /** seconds = 0: the whole day; else a window of that length centred on centerUs. */
    setZoom(seconds, centerUs) {
      this.zoomS = seconds;
      if (!seconds) {
        this.viewStartUs = this.dayStartUs;
        this.viewEndUs = this.dayEndUs;
      } else {
        const span = seconds * 1e6;
        const c = centerUs != null ? centerUs : (this.playheadUs != null ? this.playheadUs
          : (this.viewStartUs + this.viewEndUs) / 2);
        let start = c - span / 2;
        start = Math.max(this.dayStartUs, Math.min(start, this.dayEndUs - span));
        this.viewStartUs = Math.round(start);
        this.viewEndUs = Math.round(Math.min(this.dayEndUs, start + span));
      }
      this._syncDataset();
      this.render();
    }

    /** UTC microseconds under a client x coordinate, or null outside the timeline. */
    usAtClientX(clientX) {
      const r = this.root.getBoundingClientRect();
      if (r.width <= 0) return null;
      const f = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
      return Math.round(this.viewStartUs + f * (this.viewEndUs - this.viewStartUs));
    }

    /** Fraction [0, 1] of the view where an instant sits (may be outside). */
    frac(us) { return (us - this.viewStartUs) / (this.viewEndUs - this.viewStartUs); }

    /** What the timeline says about an instant: {kind: 'recorded'|'gap'|'future', reason}. */
    describe(us) {
      const d = this.data;
      if (d && d.now_utc_us != null && us > d.now_utc_us) return { kind: 'future' };
      if (d) {
        for (const s of d.spans) if (us >= s.start_utc_us && us < s.end_utc_us) return { kind: 'recorded', span: s };
        for (const g of d.gaps) if (us >= g.start_utc_us && us < g.end_utc_us) return { kind: 'gap', reason: g.reason, gap: g };
      }
      return { kind: 'gap', reason: 'unknown' };
    }

    static reasonLabel(reason) { return REASONS[reason] || REASONS.unknown; }

    /** Active judicial holds covering an instant. */
    holdsAt(us) {
      const holds = (this.data && this.data.holds) || [];
      return holds.filter((h) => us >= h.start_utc_us && us < h.end_utc_us);
    }

    static holdLabel(h) {
      const ref = h.case_reference ? ` – réquisition ${h.case_reference}` : '';
      return `Gel judiciaire${ref} (${G.formatDateTime(h.start_utc_us)} → ${G.formatDateTime(h.end_utc_us)})`;
    }

    render() {
      this._renderBlocks();
      this._renderAxis();
      this._placePlayhead();
      this._placeClip();
    }

    _syncDataset() {
      this.root.dataset.viewStartUs = String(this.viewStartUs);
      this.root.dataset.viewEndUs = String(this.viewEndUs);
      this.root.setAttribute('aria-valuemin', String(this.viewStartUs));
      this.root.setAttribute('aria-valuemax', String(this.viewEndUs));
    }

    _block(cls, startUs, endUs, title) {
      const a = Math.max(0, this.frac(startUs));
      const b = Math.min(1, this.frac(endUs));
      if (b <= a) return null;
      const node = document.createElement('div');
      node.className = `tl-block ${cls}`;
      node.style.left = `${(a * 100).toFixed(4)}%`;
      node.style.width = `${((b - a) * 100).toFixed(4)}%`;
      if (title) node.dataset.title = title;
      return node;
    }

    _renderBlocks() {
      const nodes = [];
      const d = this.data;
      if (d) {
        for (const g of d.gaps) {
          const n = this._block(`tl-gap tl-gap-${REASONS[g.reason] ? g.reason : 'unknown'}`,
            g.start_utc_us, g.end_utc_us, Timeline.reasonLabel(g.reason));
          if (n) { n.dataset.reason = g.reason; nodes.push(n); }
        }
        for (const s of d.spans) {
          const n = this._block('tl-span', s.start_utc_us, s.end_utc_us, 'enregistré');
          if (n) nodes.push(n);
        }
        for (const h of d.holds || []) {
          const n = this._block('tl-hold', h.start_utc_us, h.end_utc_us, 'gel judiciaire');
          if (!n) continue;
          n.title = Timeline.holdLabel(h);
          n.dataset.holdId = h.id;
          if (h.case_reference) n.dataset.caseReference = h.case_reference;
          nodes.push(n);
        }
        if (d.now_utc_us != null && d.now_utc_us < this.dayEndUs) {
          const n = this._block('tl-future', Math.max(d.now_utc_us, this.dayStartUs), this.dayEndUs, 'à venir');
          if (n) nodes.push(n);
        }
      }
      // Tick lines drawn in the track, under the blocks' colour.
      for (const t of this._ticks()) {
        const line = document.createElement('div');
        line.className = t.major ? 'tl-tick tl-tick-major' : 'tl-tick';
        line.style.left = `${(this.frac(t.us) * 100).toFixed(4)}%`;
        nodes.push(line);
      }
      this.track.replaceChildren(...nodes);
    }

    _tickStep() {
      const width = Math.max(200, this.root.clientWidth);
      const spanUs = this.viewEndUs - this.viewStartUs;
      const maxLabels = width / MIN_LABEL_PX;
      for (const step of TICK_STEPS_US) if (spanUs / step <= maxLabels) return step;
      return TICK_STEPS_US[TICK_STEPS_US.length - 1];
    }

    /** Ticks at round Paris times. Paris is UTC+1/+2, so minute multiples up to an hour align in
     * both; multi-hour steps are aligned on the Paris hour. */
    _ticks() {
      const step = this._tickStep();
      const out = [];
      const unit = Math.min(step, HOUR);
      let t = Math.ceil(this.viewStartUs / unit) * unit;
      for (; t <= this.viewEndUs; t += unit) {
        if (step > HOUR) {
          const h = G.parisParts(t / 1000).hour;
          if (h % (step / HOUR) !== 0) continue;
        }
        const p = G.parisParts(t / 1000);
        out.push({ us: t, major: p.minute === 0, label: G.formatHourMinute(t) });
      }
      return out;
    }

    _renderAxis() {
      const labels = this._ticks().map((t) => {
        const n = document.createElement('span');
        n.className = t.major ? 'tl-label tl-label-major' : 'tl-label';
        n.style.left = `${(this.frac(t.us) * 100).toFixed(4)}%`;
        n.textContent = t.label;
        return n;
      });
      this.axis.replaceChildren(...labels);
    }

    _placePlayhead() {
      const us = this.playheadUs;
      const f = us == null ? -1 : this.frac(us);
      if (f < 0 || f > 1) {
        this.playheadNode.hidden = true;
        return;
      }
      this.playheadNode.hidden = false;
      this.playheadNode.style.left = `${(f * 100).toFixed(4)}%`;
      this.root.setAttribute('aria-valuenow', String(us));
      this.root.setAttribute('aria-valuetext', G.formatTime(us));
    }

    _placeClip() {
      if (!this.clip) { this.clipNode.hidden = true; return; }
      const a = Math.max(0, this.frac(this.clip[0]));
      const b = Math.min(1, this.frac(this.clip[1]));
      if (b <= a) { this.clipNode.hidden = true; return; }
      this.clipNode.hidden = false;
      this.clipNode.style.left = `${(a * 100).toFixed(4)}%`;
      // At least 2 px so a short clip on the whole-day scale stays visible.
      this.clipNode.style.width = `max(2px, ${((b - a) * 100).toFixed(4)}%)`;
    }

    _hover(clientX) {
      const us = this.usAtClientX(clientX);
      if (us == null) return;
      const r = this.root.getBoundingClientRect();
      const x = clientX - r.left;
      const what = this.describe(us);
      let text = G.formatTime(us);
      if (what.kind === 'recorded') text += ' – enregistré';
      else if (what.kind === 'future') text += ' – à venir';
      else {
        text += ` – ${Timeline.reasonLabel(what.reason)}`;
        if (what.gap) {
          text += ` (${G.formatTime(what.gap.start_utc_us)} → ${G.formatTime(what.gap.end_utc_us)})`;
        }
      }
      const holds = this.holdsAt(us);
      if (holds.length) {
        const refs = holds.map((h) => h.case_reference).filter(Boolean);
        text += refs.length ? ` – gel judiciaire (${[...new Set(refs)].join(', ')})` : ' – gel judiciaire';
      }
      this.tip.textContent = text;
      this.tip.dataset.kind = what.kind === 'gap' ? `gap-${what.reason}` : what.kind;
      this.tip.hidden = false;
      const tipW = this.tip.offsetWidth;
      this.tip.style.left = `${Math.max(0, Math.min(r.width - tipW, x - tipW / 2))}px`;
      this.cursorNode.hidden = false;
      this.cursorNode.style.left = `${x}px`;
    }
  }

  Timeline.REASONS = REASONS;
  window.GuetteurTimeline = Timeline;
})();
