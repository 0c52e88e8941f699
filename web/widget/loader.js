// Porthole loader: the script a business pastes into its site.
//
// It mounts a launcher button in a closed shadow root (the host page's CSS
// cannot reach in, ours cannot leak out) and, only on the first click,
// injects the sandboxed chat iframe from Porthole's origin. Styles come from
// a constructed stylesheet (adoptedStyleSheets) or, where that is missing,
// from CSSOM property writes: both work under a host CSP that allows no
// inline styles. Messages with the iframe go to one exact
// origin and are accepted only from that origin, that window and a known
// shape. Budget: 1,536 bytes gzip -9 (checked by a Go test).
const d = document
const w = window
const script = d.currentScript
const opts = script && script.dataset
const business = opts && opts.business
if (business && !w.__porthole) {
  w.__porthole = 1
  // Porthole's origin is where this very file came from.
  const origin = new URL(script.src).origin
  const color = /^#[\da-f]{3,8}$/i.test(opts.color) ? opts.color : '#25d'
  const side = opts.position == 'left' ? 'left' : 'right'
  const create = tag => d.createElement(tag)
  const attr = (element, name, value) => element.setAttribute(name, value)
  const svgNS = 'http://www.w3.org/2000/svg'

  const host = create('porthole-launcher')
  const root = host.attachShadow({ mode: 'closed' })
  const button = create('button')
  const panel = create('div')
  const badge = create('span')
  const icon = d.createElementNS(svgNS, 'svg')
  const path = d.createElementNS(svgNS, 'path')
  let frame, open, ready, unread = 0

  // [selector, element, declarations]. The same table feeds the constructed
  // stylesheet and, without one, per-element CSSOM writes. :host must win
  // over host-page rules such as `* { all: unset !important }`: an
  // !important declaration inside the shadow tree beats one outside it.
  const rules = [
    [':host', host, `all:initial;position:fixed;bottom:20px;${side}:20px;z-index:2147483647;display:block`],
    ['button', button, `all:initial;display:grid;place-items:center;width:56px;height:56px;border-radius:50%;background:${color};color:#fff;cursor:pointer;box-shadow:0 4px 12px #0006`],
    ['div', panel, `position:absolute;bottom:70px;${side}:0;width:min(380px,90vw);height:min(600px,80vh);border-radius:12px;overflow:hidden;background:#fff;box-shadow:0 4px 12px #0006`],
    ['span', badge, 'position:absolute;top:-4px;right:-4px;padding:0 6px;border-radius:9px;background:#c00;font:700 12px/20px sans-serif'],
    ['svg', icon, 'width:26px;fill:none;stroke:currentColor;stroke-width:2'],
    ['button:focus-visible', 0, 'outline:3px solid #111'],
  ]
  const applyInline = (element, text) =>
    text.split(';').map(pair => element.style.setProperty(...pair.split(/:(.*)/), 'important'))
  if (root.adoptedStyleSheets) {
    const sheet = new CSSStyleSheet()
    sheet.replaceSync(
      rules.map(([selector, , text]) => selector + '{' + text.replace(/;|$/g, '!important;') + '}').join('')
    )
    root.adoptedStyleSheets = [sheet]
  } else {
    rules.map(([, element, text]) => element && applyInline(element, text))
  }
  const show = (element, visible) => element.style.setProperty('display', visible ? 'block' : 'none')

  attr(icon, 'viewBox', '0 0 24 24')
  attr(icon, 'aria-hidden', true)
  attr(badge, 'aria-hidden', true)
  icon.append(path)
  button.type = 'button'
  button.append(icon, badge)
  root.append(panel, button)

  const post = type => ready && frame.contentWindow.postMessage({ porthole: 1, type }, origin)
  const render = () => {
    attr(button, 'aria-expanded', !!open)
    // A disclosure button: "Chat" is the word in English, Spanish and German
    // alike, and aria-expanded tells a screen reader whether it is open.
    attr(button, 'aria-label', 'Chat' + (unread && !open ? ' (' + unread + ')' : ''))
    attr(path, 'd', open ? 'M6 6l12 12M18 6L6 18' : 'M4 5h16v11H9l-5 4z')
    badge.textContent = unread
    show(badge, unread && !open)
    show(panel, open)
  }
  const toggle = wantOpen => {
    open = wantOpen
    if (open && !frame) {
      frame = create('iframe')
      frame.title = 'Chat'
      attr(frame, 'sandbox', 'allow-scripts allow-same-origin allow-forms allow-popups')
      // business, color, position, language and greeting pass through as
      // given (the frame validates them); parent is always our own origin.
      frame.src = origin + '/widget/frame?' + new URLSearchParams({ ...opts, parent: location.origin })
      applyInline(frame, 'border:0;width:100%;height:100%')
      panel.append(frame)
    }
    render()
    post(open ? 'open' : 'close')
    open ? frame.focus() : button.focus()
  }

  button.onclick = () => toggle(!open)
  // Escape inside the frame is the frame's to handle; it posts "close".
  button.onkeydown = event => event.key == 'Escape' && open && toggle(0)
  w.addEventListener('message', event => {
    const message = event.data
    if (event.origin !== origin || event.source !== frame?.contentWindow ||
      message?.porthole !== 1) return
    const { type, count, height } = message
    if (type == 'ready') {
      ready = 1
      post(open ? 'open' : 'close')
    } else if (type == 'close') {
      open && toggle(0)
    } else if (type == 'unread' && count === count >>> 0 && count < 1e3) {
      unread = count
      render()
    } else if (type == 'resize' && height === height >>> 0 && height > 199 && height < 1201) {
      panel.style.setProperty('height', 'min(' + height + 'px,80vh)')
    }
  })
  render()
  const mount = () => d.body.append(host)
  d.body ? mount() : d.addEventListener('DOMContentLoaded', mount)
}
