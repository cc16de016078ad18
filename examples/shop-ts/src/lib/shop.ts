// The example service's request path: three functions, each stamping its version into the response,
// so that a response that ran a mix of versions shows it.

export type Seen = Record<string, string>;

export async function handle(url: string, waitFor: (url: string) => Promise<void>): Promise<string> {
  const seen: Seen = { handle: 'v1' };
  const price = quote(url, seen);
  await waitFor(url);
  return render(price, seen);
}

function quote(url: string, seen: Seen): number {
  seen.quote = 'v1';
  return url.length;
}

function render(price: number, seen: Seen): string {
  seen.render = 'v1';
  return JSON.stringify({ price, seen });
}
