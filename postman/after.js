// Collection test script: runs after every response of the collection.
// AUTH_STALE: learn the server's clock from X-Server-Time ({{clockOffsetMs}}); AUTH_REPLAY on an
// idempotent method: nothing to learn. In a collection run (the Runner, newman) either one sends
// the same request again, once, signed afresh; sent by hand, send it again.
;(function after () {
  const match = /error="([A-Z_]+)"/.exec(pm.response.headers.get('WWW-Authenticate') || '')
  const code = match === null ? null : match[1]
  const serverTime = Number(pm.response.headers.get('X-Server-Time'))
  const method = pm.request.method.toUpperCase()
  const attempt = pm.info.requestId + '#' + pm.info.iteration
  if (code === 'AUTH_STALE' && serverTime > 0) {
    // The server read its clock when the head arrived: about halfway through the exchange.
    const offset = Math.round(serverTime - (Date.now() - pm.response.responseTime / 2))
    pm.collectionVariables.set('clockOffsetMs', String(offset))
    // Times past the corrected clock were refused, never accepted: they may be used again.
    const last = Number(pm.collectionVariables.get('lastMicrotime')) || 0
    pm.collectionVariables.set('lastMicrotime', String(Math.min(last, Date.now() + offset - 1)))
  }
  const again = code === 'AUTH_STALE' || (code === 'AUTH_REPLAY' && ['GET', 'HEAD', 'PUT', 'DELETE'].includes(method))
  if (again && pm.collectionVariables.get('signedApiRetried') !== attempt) {
    pm.collectionVariables.set('signedApiRetried', attempt)
    console.info('signed-api: ' + code + ', sending ' + method + ' ' + pm.request.url.getPathWithQuery() + ' again, signed afresh')
    pm.execution.setNextRequest(pm.info.requestId)
  } else {
    pm.collectionVariables.unset('signedApiRetried')
  }
})()
