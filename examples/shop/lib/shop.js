// The example service's request path: three functions, each stamping its version into the response,
// so that a response that ran a mix of versions shows it.

async function handle(url, waitFor) {
  const seen = { handle: 'v1' };
  const price = quote(url, seen);
  await waitFor(url);
  return render(price, seen);
}

function quote(url, seen) {
  seen.quote = 'v1';
  return url.length;
}

function render(price, seen) {
  seen.render = 'v1';
  return JSON.stringify({ price, seen });
}

module.exports = { handle };
