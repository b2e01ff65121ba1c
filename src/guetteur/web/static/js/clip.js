/*
 * Guetteur – the clip panel of the playback page: « Début » and « Fin » (datetime-local, Paris
 * time), « Marquer début / fin » from the current image, and « Télécharger l'extrait (MP4) »
 * linking to GET /api/cameras/{id}/clip.mp4?from=&to= (UTC microseconds; plus &reason= the case
 * reference of an investigator). The panel is on the page only for users with the export right.
 *
 * Invariants: the link is enabled only for a range the server can honour as far as the page
 * knows (end after start, some recording inside according to the timeline); the range is shown
 * on the timeline and spelt out in French under the fields, whatever the browser's own format
 * for datetime-local; a refusal by the server is shown in French, never a silent no-download.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const $ = (id) => document.getElementById(id);

  class ClipPanel {
    /**
     * @param {object} o  {cameraId, timeline (GuetteurTimeline), currentUtcUs(): number|null,
     *                     spans(): [{start_utc_us, end_utc_us}] | null,
     *                     reasonQuery: "&reason=..." or ""}
     */
    constructor(o) {
      this.cameraId = encodeURIComponent(o.cameraId);
      this.timeline = o.timeline;
      this.currentUtcUs = o.currentUtcUs;
      this.spans = o.spans;
      this.reasonQuery = o.reasonQuery || '';
      this.fromUs = null;
      this.toUs = null;
      this.prefilled = false;
      this.frame = null;
      this.from = $('clip-from');
      this.to = $('clip-to');
      this.link = $('clip-download');
      this.msg = $('clip-msg');
      this.duration = $('clip-duration');

      for (const ev of ['input', 'change']) {
        this.from.addEventListener(ev, () => { this.fromUs = G.fromDatetimeLocal(this.from.value); this.validate(); });
        this.to.addEventListener(ev, () => { this.toUs = G.fromDatetimeLocal(this.to.value); this.validate(); });
      }
      $('clip-mark-from').addEventListener('click', () => {
        const us = this.currentUtcUs();
        if (us == null) return;
        this.set(us, this.toUs != null && this.toUs > us ? this.toUs : us + 60e6);
      });
      $('clip-mark-to').addEventListener('click', () => {
        const us = this.currentUtcUs();
        if (us != null) this.set(this.fromUs, us);
      });
      this.link.addEventListener('click', (ev) => this._download(ev));
      this.validate();
    }

    /** First known position: from there to one minute later, unless the operator typed already. */
    prefill(us) {
      if (this.prefilled || this.fromUs != null) return;
      this.prefilled = true;
      const start = Math.floor(us / 1e6) * 1e6;
      this.set(start, start + 60e6);
    }

    set(fromUs, toUs) {
      this.fromUs = fromUs;
      this.toUs = toUs;
      this.from.value = fromUs != null ? G.toDatetimeLocal(fromUs) : '';
      this.to.value = toUs != null ? G.toDatetimeLocal(toUs) : '';
      this.validate();
    }

    validate() {
      const { fromUs, toUs } = this;
      const spans = this.spans();
      let problem = null;
      if (fromUs == null || toUs == null) problem = 'Indiquez le début et la fin de l’extrait.';
      else if (toUs <= fromUs) problem = 'La fin doit être après le début.';
      else if (spans && !spans.some((s) => s.start_utc_us < toUs && s.end_utc_us > fromUs)) {
        problem = 'Aucun enregistrement entre ces deux instants.';
      }
      this.timeline.setClip(fromUs, toUs);
      this.duration.textContent = fromUs != null && toUs != null && toUs > fromUs
        ? `Durée : ${G.formatDuration((toUs - fromUs) / 1e6)}` : '';
      if (problem) {
        this.link.setAttribute('aria-disabled', 'true');
        this.link.classList.add('disabled');
        this.link.removeAttribute('href');
        this._say(problem, 'warn');
        return;
      }
      this.link.setAttribute('aria-disabled', 'false');
      this.link.classList.remove('disabled');
      this.link.href = `/api/cameras/${this.cameraId}/clip.mp4?from=${Math.round(fromUs)}` +
        `&to=${Math.round(toUs)}&stream=main${this.reasonQuery}`;
      this._say(`Du ${G.formatDateTime(fromUs)} au ${G.formatDateTime(toUs)} (heure de Paris). ` +
        'Copie exacte de l’enregistrement, sans réencodage ; le téléchargement est journalisé.', 'info');
    }

    _say(text, level) {
      this.msg.textContent = text;
      this.msg.dataset.level = level;
    }

    /**
     * The download goes through a hidden frame: a file (Content-Disposition: attachment) never
     * loads a document there, whereas a refusal (JSON error) does, so its French message can be
     * shown instead of a download that silently does not start.
     */
    _download(ev) {
      ev.preventDefault();
      if (this.link.getAttribute('aria-disabled') === 'true') return;
      if (this.frame) this.frame.remove();
      const frame = G.el('iframe', { class: 'download-frame', title: 'Téléchargement', hidden: true,
        'aria-hidden': 'true', tabindex: '-1' });
      frame.addEventListener('load', () => {
        let message = 'le serveur n’a pas pu produire le fichier.';
        try {
          const body = JSON.parse(frame.contentDocument.body.textContent);
          if (body && body.message) message = body.message;
        } catch (err) { /* not JSON: keep the generic message */ }
        this._say(`Extrait refusé : ${message}`, 'warn');
      });
      frame.src = this.link.href;
      document.body.appendChild(frame);
      this.frame = frame;
      this._say('Extrait demandé : le fichier MP4 arrive dans les téléchargements du navigateur.', 'info');
    }
  }

  window.GuetteurClipPanel = ClipPanel;
})();
