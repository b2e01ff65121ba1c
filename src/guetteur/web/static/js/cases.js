/*
 * Guetteur – the judicial cases page (« Réquisitions »).
 *
 * Lists the cases the user may see (GET /api/cases: all of them for supervisors,
 * administrators and auditors, their own for investigators), records a new one (POST
 * /api/cases, then opens it: holds and exports are done on the case's page) and shows the
 * server's evidence-signing public key (GET /api/evidence/public-key) with its fingerprint, to
 * copy or download.
 *
 * Invariants: every instant is shown in Paris time; the legal basis sent is the chosen one, or
 * the typed text when « Autre » is chosen; API errors are shown in French next to what failed,
 * never swallowed; text from the server is set with textContent only.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const $ = (id) => document.getElementById(id);
  const data = G.pageData();
  const pageMsg = $('cases-msg');

  function showError(node, text) {
    node.textContent = text;
    node.dataset.level = 'error';
    node.hidden = false;
  }

  // ------------------------------------------------------------------ the list

  function dateFr(isoDay) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoDay || '');
    return m ? `${m[3]}/${m[2]}/${m[1]}` : (isoDay || '—');
  }

  function row(c) {
    const link = G.el('a', { href: `/cases/${encodeURIComponent(c.id)}`, class: 'case-link' }, c.reference);
    const state = c.closed
      ? G.el('span', { class: 'pill pill-off', title: `Close le ${G.formatDateTime(c.closed_utc_us)} par ${c.closed_by}` }, 'Close')
      : G.el('span', { class: 'pill pill-ok' }, 'Ouverte');
    return G.el('tr', { dataset: { caseId: c.id, reference: c.reference } },
      G.el('td', { class: 'case-ref-cell' }, link,
        c.description ? G.el('span', { class: 'muted small block case-desc' }, c.description) : null),
      G.el('td', {}, c.service),
      G.el('td', {}, c.officer),
      G.el('td', { class: 'nowrap' }, dateFr(c.requisition_date)),
      G.el('td', {}, c.legal_basis),
      G.el('td', {}, c.created_by,
        G.el('span', { class: 'muted small block nowrap' }, `le ${G.formatDateTime(c.created_utc_us)}`)),
      G.el('td', {}, state));
  }

  async function loadCases() {
    try {
      const cases = await G.fetchJson('/api/cases');
      $('cases-body').replaceChildren(...cases.map(row));
      $('cases-empty').hidden = cases.length > 0;
      $('cases-wrap').hidden = cases.length === 0;
      const open = cases.filter((c) => !c.closed).length;
      $('cases-summary').textContent = cases.length
        ? `${G.formatInt(cases.length)} réquisition${cases.length > 1 ? 's' : ''}, dont ${G.formatInt(open)} ouverte${open > 1 ? 's' : ''}`
        : 'Aucune réquisition';
    } catch (err) {
      $('cases-summary').textContent = '';
      showError(pageMsg, `Impossible de charger les réquisitions : ${err.message}`);
    }
  }

  // ------------------------------------------------------------------ new case

  function setupForm() {
    const form = $('case-form');
    if (!form) return;
    const basis = $('c-basis');
    const otherField = $('c-basis-other-field');
    const other = $('c-basis-other');
    const msg = $('case-form-msg');
    const syncOther = () => {
      otherField.hidden = basis.value !== 'autre';
      other.required = basis.value === 'autre';
    };
    basis.addEventListener('change', () => { syncOther(); if (!otherField.hidden) other.focus(); });
    syncOther();
    $('case-create').addEventListener('toggle', () => {
      if ($('case-create').open) $('c-reference').focus();
    });

    // Once the operator corrects the field that was refused, the refusal goes away.
    form.addEventListener('input', (ev) => {
      if (!ev.target.hasAttribute('aria-invalid')) return;
      ev.target.removeAttribute('aria-invalid');
      msg.textContent = '';
      delete msg.dataset.level;
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      form.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
      msg.textContent = '';
      delete msg.dataset.level;
      const legal = basis.value === 'autre' ? other.value.trim() : basis.value;
      if (basis.value === 'autre' && !legal) {
        other.setAttribute('aria-invalid', 'true');
        showError(msg, 'Précisez le fondement juridique de la réquisition.');
        other.focus();
        return;
      }
      const body = {
        reference: $('c-reference').value.trim(),
        service: $('c-service').value.trim(),
        officer: $('c-officer').value.trim(),
        requisition_date: $('c-date').value,
        legal_basis: legal,
        description: $('c-description').value.trim() || null,
      };
      const btn = $('case-submit');
      btn.disabled = true;
      try {
        const created = await G.sendJson('/api/cases', 'POST', body);
        msg.dataset.level = 'ok';
        msg.textContent = `Réquisition ${created.reference} enregistrée : ouverture…`;
        location.assign(`/cases/${encodeURIComponent(created.id)}`);
      } catch (err) {
        showError(msg, err.message);
        const names = { legal_basis: basis.value === 'autre' ? 'legal_basis' : 'legal_basis_choice' };
        const name = err.field ? (names[err.field] || err.field) : null;
        const field = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
        if (field) { field.setAttribute('aria-invalid', 'true'); field.focus(); }
        btn.disabled = false;
      }
    });
  }

  // ------------------------------------------------------------------ public key

  async function loadKey() {
    const msg = $('key-msg');
    try {
      const key = await G.fetchJson('/api/evidence/public-key');
      $('key-algorithm').textContent = key.algorithm;
      $('key-fingerprint').textContent = key.fingerprint; // groups of 4: easy to read aloud
      $('key-fingerprint').dataset.fingerprint = key.fingerprint;
      $('key-pem').textContent = key.pem;
      const url = URL.createObjectURL(new Blob([key.pem], { type: 'application/x-pem-file' }));
      const dl = $('key-download');
      dl.href = url;
      dl.removeAttribute('aria-disabled');
      const copy = $('key-copy');
      copy.disabled = false;
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(key.pem);
          msg.dataset.level = 'ok';
          msg.textContent = 'Clé publique copiée dans le presse-papiers.';
        } catch (err) {
          // No clipboard (plain http, or refused): select the text for Ctrl+C instead.
          document.querySelector('.key-pem').open = true;
          const range = document.createRange();
          range.selectNodeContents($('key-pem'));
          const sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          msg.dataset.level = 'warn';
          msg.textContent = 'Copie automatique impossible : la clé est sélectionnée, faites Ctrl+C.';
        }
      });
    } catch (err) {
      $('key-algorithm').textContent = '—';
      $('key-fingerprint').textContent = '—';
      showError(msg, `Clé indisponible : ${err.message}`);
    }
  }

  setupForm();
  loadCases();
  loadKey();
  window.guetteurCases = { reload: loadCases, canCreate: !!data.can_create };
})();
