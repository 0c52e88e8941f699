// Porthole frame: the chat UI inside the sandboxed iframe.
//
// Rules this file keeps (docs/security.md, "Widget"):
// - untrusted text (chat, names, labels, errors) only ever becomes DOM text
//   nodes: element.append(string) or textContent, never innerHTML; the small
//   markdown subset below builds elements, and links must be http(s);
// - postMessage goes to the server-verified parent origin only, and a
//   message is accepted only from that origin, from window.parent, with a
//   known shape;
// - one WebSocket per browser for a (site, business, chatbot): the tab that
//   holds a Web Lock owns it and shares events over a BroadcastChannel.
// The wire protocol is docs/widget-protocol.md.

const doc = document
const config = JSON.parse(doc.getElementById('porthole-config').textContent)
const bot = config.chatbot_config || {}
const params = new URLSearchParams(location.search)
const parentOrigin = config.parent_origin

const STRINGS = {
  en: {
    title: 'Chat', conversation: 'Conversation', message: 'Message', placeholder: 'Type a message…',
    send: 'Send', stop: 'Stop', close: 'Close chat', typing: 'Typing…', you: 'You', assistant: 'Assistant',
    agent: 'Agent', system: 'Notice', connecting: 'Connecting…', reconnecting: 'Reconnecting…',
    offline: 'We are offline right now. Leave a message and we will get back to you.',
    unavailable: 'Chat is unavailable right now.', submit: 'Send', required: 'Please fill this in.',
    email: 'Please enter an email address.', sent: 'Sent. Thank you!', stopped: '(stopped)',
    failed: 'Not sent.', rateLimited: 'Too many messages. Please wait a moment.', tooLong: 'This message is too long.',
    error: 'Something went wrong.',
  },
  es: {
    title: 'Chat', conversation: 'Conversación', message: 'Mensaje', placeholder: 'Escribe un mensaje…',
    send: 'Enviar', stop: 'Detener', close: 'Cerrar chat', typing: 'Escribiendo…', you: 'Tú', assistant: 'Asistente',
    agent: 'Agente', system: 'Aviso', connecting: 'Conectando…', reconnecting: 'Reconectando…',
    offline: 'Ahora no estamos disponibles. Deja un mensaje y te responderemos.',
    unavailable: 'El chat no está disponible ahora.', submit: 'Enviar', required: 'Rellena este campo.',
    email: 'Introduce una dirección de correo.', sent: 'Enviado. ¡Gracias!', stopped: '(detenido)',
    failed: 'No enviado.', rateLimited: 'Demasiados mensajes. Espera un momento.', tooLong: 'El mensaje es demasiado largo.',
    error: 'Algo salió mal.',
  },
  de: {
    title: 'Chat', conversation: 'Unterhaltung', message: 'Nachricht', placeholder: 'Nachricht schreiben…',
    send: 'Senden', stop: 'Stopp', close: 'Chat schließen', typing: 'Schreibt…', you: 'Sie', assistant: 'Assistent',
    agent: 'Mitarbeiter', system: 'Hinweis', connecting: 'Verbinde…', reconnecting: 'Verbindung wird wiederhergestellt…',
    offline: 'Wir sind gerade nicht erreichbar. Hinterlassen Sie eine Nachricht, wir melden uns.',
    unavailable: 'Der Chat ist gerade nicht verfügbar.', submit: 'Senden', required: 'Bitte ausfüllen.',
    email: 'Bitte eine E-Mail-Adresse eingeben.', sent: 'Gesendet. Danke!', stopped: '(abgebrochen)',
    failed: 'Nicht gesendet.', rateLimited: 'Zu viele Nachrichten. Bitte kurz warten.', tooLong: 'Die Nachricht ist zu lang.',
    error: 'Etwas ist schiefgelaufen.',
  },
}

// The loader's data-language wins, then the business default, then the
// browser's languages.
const lang = [params.get('language'), bot.language, ...(navigator.languages || [navigator.language])]
  .map(tag => String(tag || '').slice(0, 2).toLowerCase())
  .find(code => STRINGS[code]) || 'en'
const t = STRINGS[lang]
doc.documentElement.lang = lang
const color = [params.get('color'), bot.color].find(value => /^#[0-9a-f]{3,8}$/i.test(value || ''))
// CSSOM, which the frame's style-src 'self' allows (a style attribute would not be).
if (color) doc.documentElement.style.setProperty('--accent', color)
const greeting = params.get('greeting') || bot.greeting
// A signed identity from the business's backend rides in the loader's
// data-user-id + data-user-hash, or data-identity-token (a JWT). The server
// verifies it; anything unsigned is ignored there.
const userId = params.get('userId')
const identityToken = params.get('identityToken')
const identity = identityToken
  ? { token: identityToken }
  : userId && params.get('userHash')
    ? { user_id: userId, user_hash: params.get('userHash') }
    : undefined

// ---- small helpers ------------------------------------------------------

const uuid = () => {
  if (crypto.randomUUID) return crypto.randomUUID()
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 15) | 64
  b[8] = (b[8] & 63) | 128
  const h = [...b].map(x => x.toString(16).padStart(2, '0')).join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

// el builds an element; props go to DOM properties, or attributes for names
// with a dash; children are nodes or strings (strings become text nodes).
const el = (tag, props, ...children) => {
  const node = doc.createElement(tag)
  for (const [name, value] of Object.entries(props || {})) {
    if (name.includes('-')) node.setAttribute(name, value)
    else node[name] = value
  }
  node.append(...children)
  return node
}

const safeStorage = area => {
  try {
    const storage = self[area]
    storage.setItem('porthole:probe', '1')
    storage.removeItem('porthole:probe')
    return storage
  } catch {
    return null // storage blocked (third-party cookies off, private mode): memory only
  }
}
const local = safeStorage('localStorage')
const perTab = safeStorage('sessionStorage')

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const sessionKey = 'porthole:session:' + config.business
let session = local && local.getItem(sessionKey)
if (!UUID_RE.test(session || '')) {
  session = uuid()
  local && local.setItem(sessionKey, session)
}

// ---- safe markdown: bold, italic, lists, http(s) links, as DOM nodes -----

const INLINE = /\*\*([^*\n]+)\*\*|\*([^*\s][^*\n]*)\*|\[([^\]\n]+)\]\(([^)\s]+)\)/g

const safeHref = raw => {
  try {
    const url = new URL(raw)
    return url.protocol == 'https:' || url.protocol == 'http:' ? url.href : ''
  } catch {
    return ''
  }
}

const renderInline = (text, parent) => {
  let last = 0
  for (const match of text.matchAll(INLINE)) {
    parent.append(text.slice(last, match.index))
    last = match.index + match[0].length
    const [whole, bold, italic, label, href] = match
    if (bold) renderInline(bold, parent.appendChild(el('strong')))
    else if (italic) renderInline(italic, parent.appendChild(el('em')))
    else if (safeHref(href)) {
      parent.append(el('a', { href: safeHref(href), target: '_blank', rel: 'noopener noreferrer' }, label))
    } else parent.append(whole) // javascript:, data:, relative: stays text
  }
  parent.append(text.slice(last))
}

const renderMarkdown = (text, parent) => {
  parent.replaceChildren()
  let list = null
  let para = null
  for (const line of String(text).split('\n')) {
    const item = /^\s*(?:([-*+])|\d{1,3}[.)])\s+(.*)$/.exec(line)
    if (item) {
      const tag = item[1] ? 'UL' : 'OL'
      if (!list || list.tagName != tag) list = parent.appendChild(el(tag))
      renderInline(item[2], list.appendChild(el('li')))
      para = null
      continue
    }
    list = null
    if (!line.trim()) {
      para = null
      continue
    }
    if (para) para.append(el('br'))
    else para = parent.appendChild(el('p'))
    renderInline(line, para)
  }
}

// ---- DOM ----------------------------------------------------------------

const status = el('p', { className: 'status', role: 'status' })
const closeButton = el('button', { type: 'button', className: 'close', 'aria-label': t.close }, '×')
const log = el('div', {
  className: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t.conversation, tabIndex: 0,
})
const typing = el('div', { className: 'typing', hidden: true }, el('span', { 'aria-hidden': 'true' }), t.typing)
const input = el('textarea', {
  rows: 1, maxLength: 4000, placeholder: t.placeholder, 'aria-label': t.message, enterKeyHint: 'send',
})
const sendButton = el('button', { type: 'submit', className: 'send' }, t.send)
const stopButton = el('button', { type: 'button', className: 'stop', hidden: true }, t.stop)
const composer = el('form', { className: 'composer' }, input, stopButton, sendButton)
doc.body.append(
  el('header', {}, el('div', {}, el('h1', {}, bot.name || t.title), status), closeButton),
  log, typing, composer,
)

const setStatus = text => { status.textContent = text || (bot.online === false ? t.offline : '') }
setStatus(t.connecting)

const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80
const scrollDown = stick => { if (stick) log.scrollTop = log.scrollHeight }

// placeBySeq keeps stored events in seq order whatever order they arrive
// in (tabs can get a sync reply and live frames interleaved); unstored
// bubbles (pending, streaming) stay at the end.
const placeBySeq = (node, seq) => {
  const stick = nearBottom()
  node.dataset.seq = seq
  let ref = null
  for (const child of log.children) {
    if (child != node && (child.dataset.seq == null || +child.dataset.seq > seq)) {
      ref = child
      break
    }
  }
  log.insertBefore(node, ref)
  scrollDown(stick)
}

const bubble = role => {
  const body = el('div', { className: 'body' })
  const node = el('div', { className: 'msg ' + role }, el('span', { className: 'sr' }, (t[role] || t.system) + ': '), body)
  node.body = body
  return node
}

const note = (node, text, cls) => {
  node.querySelector('.note')?.remove()
  node.append(el('p', { className: 'note ' + (cls || '') }, text))
}

if (greeting) {
  const node = bubble('assistant')
  node.classList.add('greeting')
  renderMarkdown(greeting, node.body)
  placeBySeq(node, 0)
}

// ---- conversation state ---------------------------------------------------

const seen = new Set() // seqs applied
const stored = new Map() // seq -> frame, to bring a new follower tab up to date
let watermark = 0 // every seq <= watermark has been applied
const pending = new Map() // key -> client frame, resent after every welcome
const pendingBubbles = new Map() // client_id -> bubble
const streams = new Map() // turn_id -> bubble
const forms = new Map() // form_id -> form element
let activeTurn = null
let typingTimer = 0
let open = false
let unread = 0
let live = false // applying live frames (not history): count unread

const toParent = message => {
  if (window.parent == window) return
  try {
    window.parent.postMessage({ porthole: 1, ...message }, parentOrigin)
  } catch {
    // an invalid parent origin: nothing to talk to
  }
}

const bump = () => {
  if (!open && live) {
    unread++
    toParent({ type: 'unread', count: Math.min(unread, 999) })
  }
}

const showTyping = on => {
  clearTimeout(typingTimer)
  typing.hidden = !on
  if (on) typingTimer = setTimeout(() => { typing.hidden = true }, 15000)
}

const setTurn = turn => {
  activeTurn = turn
  stopButton.hidden = !turn
}

const streamBubble = turn => {
  let node = streams.get(turn)
  if (!node) {
    node = bubble('assistant')
    node.text = ''
    node.setAttribute('aria-busy', 'true') // announce the reply once, when complete
    streams.set(turn, node)
    const stick = nearBottom()
    log.append(node)
    scrollDown(stick)
  }
  return node
}

const renderForm = frame => {
  const id = String(frame.form_id)
  if (forms.has(id)) return forms.get(id)
  const button = el('button', { type: 'submit' }, t.submit)
  const form = el('form', { className: 'form', noValidate: true })
  form.append(el('p', { className: 'form-title' }, String(frame.title || '')))
  const autocomplete = { name: 'name', email: 'email', phone: 'tel', tel: 'tel' }
  for (const field of Array.isArray(frame.fields) ? frame.fields : []) {
    const name = String(field.name)
    const fieldId = 'f-' + uuid()
    const error = el('span', { className: 'field-error', id: fieldId + '-e' })
    const type = ['email', 'tel', 'textarea'].includes(field.type) ? field.type : 'text'
    const control = type == 'textarea' ? el('textarea', { rows: 3 }) : el('input', { type })
    Object.assign(control, { id: fieldId, name, required: !!field.required, maxLength: 2000 })
    control.setAttribute('aria-describedby', error.id)
    control.errorText = error
    control.autocomplete = autocomplete[name] || (type == 'email' ? 'email' : type == 'tel' ? 'tel' : 'on')
    form.append(el('label', { htmlFor: fieldId }, String(field.label || name) + (field.required ? ' *' : '')), control, error)
  }
  form.append(button)
  form.button = button
  form.addEventListener('submit', event => {
    event.preventDefault()
    const values = {}
    const errors = {}
    for (const control of form.querySelectorAll('input,textarea')) {
      const value = control.value.trim()
      values[control.name] = value
      // Hints only: the server validates and its errors are what count.
      if (control.required && !value) errors[control.name] = t.required
      else if (control.type == 'email' && value && !/^[^\s@]+@[^\s@]+$/.test(value)) errors[control.name] = t.email
    }
    if (showFormErrors(form, errors)) return
    button.disabled = true
    send({ type: 'form_submit', form_id: id, values }, 'form:' + id)
  })
  forms.set(id, form)
  return form
}

const showFormErrors = (form, errors) => {
  let first = null
  for (const control of form.querySelectorAll('input,textarea')) {
    const message = errors && errors[control.name] ? String(errors[control.name]) : ''
    control.errorText.textContent = message
    control.setAttribute('aria-invalid', !!message)
    if (message && !first) first = control
  }
  first && first.focus()
  return !!first
}

// replay applies stored events that happened before this tab looked: they
// render but do not count as unread.
const replay = frames => {
  const wasLive = live
  live = false
  for (const frame of Array.isArray(frames) ? frames : []) apply(frame)
  live = wasLive
}

// apply handles one server frame, from our socket or from the leader tab.
const apply = frame => {
  const seq = frame.seq
  if (Number.isInteger(seq) && seq > 0) {
    if (seq <= watermark || seen.has(seq)) return // never render an event twice
    seen.add(seq)
    stored.set(seq, frame)
    while (seen.has(watermark + 1)) watermark++
  }
  switch (frame.type) {
    case 'welcome':
      if (frame.ticket) ticket = frame.ticket
      bot.online = frame.online !== false
      setStatus()
      replay(frame.history)
      // Idempotent by client_id: resend whatever has no stored echo yet.
      for (const pendingFrame of pending.values()) send(pendingFrame)
      break
    case 'message': {
      const role = ['visitor', 'assistant', 'agent', 'system'].includes(frame.role) ? frame.role : 'system'
      let node = (frame.client_id && pendingBubbles.get(frame.client_id)) || (frame.turn_id && streams.get(frame.turn_id))
      if (frame.client_id) {
        pendingBubbles.delete(frame.client_id)
        pending.delete(frame.client_id)
      }
      if (frame.turn_id) streams.delete(frame.turn_id)
      node = node || bubble(role)
      node.turn = frame.turn_id
      node.classList.remove('pending')
      node.removeAttribute('aria-busy')
      renderMarkdown(frame.text || '', node.body)
      placeBySeq(node, seq)
      if (role != 'visitor') {
        showTyping(false)
        bump()
      }
      break
    }
    case 'delta': {
      if (typeof frame.text != 'string' || !frame.turn_id) break
      showTyping(false)
      setTurn(frame.turn_id)
      const node = streamBubble(frame.turn_id)
      const stick = nearBottom()
      node.text += frame.text
      renderMarkdown(node.text, node.body)
      scrollDown(stick)
      break
    }
    case 'turn_end': {
      const node = streams.get(frame.turn_id)
      const finished = [...log.querySelectorAll('.msg.assistant')].find(n => n.turn == frame.turn_id)
      if (frame.status == 'canceled') note(node || finished || log.lastElementChild || log, t.stopped)
      if (frame.status == 'error') note(node || finished || log.lastElementChild || log, t.error, 'bad')
      if (node) {
        streams.delete(frame.turn_id)
        node.removeAttribute('aria-busy')
        if (!node.text) node.remove()
      }
      if (activeTurn == frame.turn_id) setTurn(null)
      showTyping(false)
      break
    }
    case 'typing':
      if (frame.role == 'assistant' || frame.role == 'agent') {
        showTyping(true)
        if (frame.turn_id) setTurn(frame.turn_id)
      }
      break
    case 'form': {
      const node = bubble('system')
      node.body.append(renderForm(frame))
      placeBySeq(node, seq)
      bump()
      break
    }
    case 'form_result': {
      const form = forms.get(String(frame.form_id))
      pending.delete('form:' + frame.form_id)
      if (!form) break
      if (frame.status == 'accepted') {
        form.replaceChildren(el('p', { className: 'form-done' }, t.sent))
      } else {
        form.button.disabled = false
        showFormErrors(form, frame.errors || {})
      }
      break
    }
    case 'ticket':
      if (typeof frame.ticket == 'string') {
        ticket = frame.ticket
        ticketExpiresAt = frame.ticket_expires_at || 0
      }
      break
    case 'error': {
      const node = frame.client_id && pendingBubbles.get(frame.client_id)
      const text = { rate_limited: t.rateLimited, too_large: t.tooLong }[frame.code] || t.failed
      if (node) {
        pending.delete(frame.client_id)
        pendingBubbles.delete(frame.client_id)
        node.classList.add('failed')
        note(node, text, 'bad')
      } else if (frame.code != 'identity_refused') {
        const stick = nearBottom()
        log.append(el('p', { className: 'note bad' }, frame.code == 'rate_limited' ? t.rateLimited : t.error))
        scrollDown(stick)
      }
      break
    }
  }
}

// ---- the socket (leader tab only) -----------------------------------------

let ticket = config.ticket
let ticketExpiresAt = config.ticket_expires_at || 0
let socket = null
let ready = false // hello answered by welcome
let leader = false
let attempt = 0
let failedOpens = 0
let retryTimer = 0
const reloadKey = 'porthole:reloaded:' + config.business

const connect = () => {
  clearTimeout(retryTimer)
  if (!leader || socket) return
  const url = new URL(config.ws_url)
  url.searchParams.set('ticket', ticket)
  url.searchParams.set('session', session)
  let opened = false
  const ws = (socket = new WebSocket(url))
  ws.onopen = () => {
    opened = true
    ws.send(JSON.stringify({ type: 'hello', session, last_seq: watermark, identity }))
  }
  ws.onmessage = event => {
    let frame
    try {
      frame = JSON.parse(event.data)
    } catch {
      return
    }
    if (!frame || typeof frame.type != 'string') return
    if (frame.type == 'welcome') {
      ready = true
      attempt = failedOpens = 0
      perTab && perTab.removeItem(reloadKey)
      shareStatus('')
    }
    live = true
    apply(frame)
    channel && channel.postMessage({ k: 'frame', frame })
  }
  ws.onclose = () => {
    if (socket != ws) return
    socket = null
    ready = false
    if (!leader) return
    if (!opened) failedOpens++
    // The browser hides a refusal's status code. A socket that never opens
    // with an expired ticket, or three in a row, most likely was refused:
    // a fresh frame document brings a fresh ticket. Once; then give up loudly.
    if (!opened && (Date.now() > ticketExpiresAt - 5000 || failedOpens >= 3)) {
      const last = perTab ? +perTab.getItem(reloadKey) : Date.now()
      if (Date.now() - last > 300000) {
        perTab.setItem(reloadKey, Date.now())
        location.reload()
        return
      }
      shareStatus(t.unavailable)
    } else shareStatus(t.reconnecting)
    const delay = Math.min(30000, 1000 * 2 ** attempt++)
    retryTimer = setTimeout(connect, delay / 2 + Math.random() * delay / 2)
  }
}

const shareStatus = text => {
  setStatus(text)
  channel && channel.postMessage({ k: 'status', text })
}

// send delivers a client frame: on our socket when we lead, else through the
// leader. Frames with a key stay pending until the server's echo and are
// resent after every welcome (the server drops duplicates by client_id).
const send = (frame, key) => {
  if (key) pending.set(key, frame)
  if (!leader) channel && channel.postMessage({ k: 'send', frame })
  else if (socket && ready) socket.send(JSON.stringify(frame))
}

// ---- cross-tab: one leader per (site, business, chatbot) ------------------

const channelName = 'porthole:' + config.business + ':' + (config.chatbot || '')
const channel = self.BroadcastChannel ? new BroadcastChannel(channelName) : null
const tabId = uuid()
let leaderSeenAt = 0

const becomeLeader = () => {
  if (leader) return
  leader = true
  live = true
  connect()
}

if (channel) {
  channel.onmessage = ({ data }) => {
    if (!data || typeof data != 'object') return
    if (data.k == 'frame' && !leader && data.frame) {
      live = true
      apply(data.frame)
    } else if (data.k == 'send' && leader && data.frame) {
      send(data.frame)
    } else if (data.k == 'status' && !leader) {
      setStatus(data.text)
    } else if (data.k == 'sync' && leader) {
      channel.postMessage({ k: 'events', to: data.id, frames: [...stored.values()], status: status.textContent })
    } else if (data.k == 'events' && data.to == tabId && !leader) {
      replay(data.frames)
      setStatus(data.status)
    } else if (data.k == 'hb') {
      leaderSeenAt = Date.now()
      // Heartbeat election only: the lower id keeps the lead.
      if (leader && data.id < tabId && !navigator.locks) {
        leader = false
        socket && socket.close()
      }
    } else if (data.k == 'bye') {
      leaderSeenAt = 0
    }
  }
  channel.postMessage({ k: 'sync', id: tabId })
}

if (channel && navigator.locks) {
  // Held until this document goes away; then the next tab in line gets it
  // and connects, resuming from its own watermark.
  navigator.locks.request('porthole:ws:' + channelName, () => new Promise(becomeLeader))
} else if (channel) {
  const started = Date.now()
  setInterval(() => {
    if (leader) channel.postMessage({ k: 'hb', id: tabId })
    else if (Date.now() - Math.max(leaderSeenAt, started) > 2500 + Math.random() * 1000) becomeLeader()
  }, 1000)
  addEventListener('pagehide', () => leader && channel.postMessage({ k: 'bye' }))
} else {
  becomeLeader()
}

// ---- UI events ------------------------------------------------------------

let lastTyping = 0

composer.addEventListener('submit', event => {
  event.preventDefault()
  const text = input.value.trim()
  if (!text) return
  input.value = ''
  const clientId = uuid()
  const node = bubble('visitor')
  node.classList.add('pending')
  renderMarkdown(text, node.body)
  pendingBubbles.set(clientId, node)
  log.append(node)
  scrollDown(true)
  send({ type: 'message', client_id: clientId, text }, clientId)
})

input.addEventListener('keydown', event => {
  if (event.key == 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    composer.requestSubmit()
  }
})

input.addEventListener('input', () => {
  if (Date.now() - lastTyping > 2000 && input.value) {
    lastTyping = Date.now()
    send({ type: 'typing' })
  }
})

stopButton.addEventListener('click', () => {
  send({ type: 'cancel' })
  input.focus()
})

closeButton.addEventListener('click', () => toParent({ type: 'close' }))
doc.addEventListener('keydown', event => {
  if (event.key == 'Escape') toParent({ type: 'close' })
})

addEventListener('message', event => {
  const message = event.data
  if (event.origin !== parentOrigin || event.source !== window.parent || !message || message.porthole !== 1) return
  if (message.type == 'open') {
    open = true
    unread = 0
    toParent({ type: 'unread', count: 0 })
    input.focus()
  } else if (message.type == 'close') {
    open = false
  }
})

toParent({ type: 'ready' })
