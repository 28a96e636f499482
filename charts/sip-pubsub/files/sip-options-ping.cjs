// `helm test`: send OPTIONS sip:factory@<domain> to the SIP Service over UDP or TCP and pass when the edge
// answers with 200 (or a digest challenge, which also proves it is parsing and answering SIP).
// Settings: SIP_TARGET_HOST, SIP_TARGET_PORT, SIP_TARGET_TRANSPORT (udp|tcp), SIP_DOMAIN.
const dgram = require('node:dgram');
const net = require('node:net');
const crypto = require('node:crypto');

const host = process.env.SIP_TARGET_HOST;
const port = Number(process.env.SIP_TARGET_PORT || 5060);
const transport = (process.env.SIP_TARGET_TRANSPORT || 'udp').toLowerCase();
const domain = process.env.SIP_DOMAIN || 'localhost';
const attempts = Number(process.env.SIP_PING_ATTEMPTS || 5);

function request(localHost, localPort) {
  const tag = crypto.randomBytes(6).toString('hex');
  const branch = `z9hG4bK${crypto.randomBytes(8).toString('hex')}`;
  return [
    `OPTIONS sip:factory@${domain} SIP/2.0`,
    `Via: SIP/2.0/${transport.toUpperCase()} ${localHost}:${localPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:helm-test@${domain}>;tag=${tag}`,
    `To: <sip:factory@${domain}>`,
    `Call-ID: ${crypto.randomBytes(12).toString('hex')}@helm-test`,
    'CSeq: 1 OPTIONS',
    'Accept: application/sdp',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function verdict(text) {
  const m = /^SIP\/2\.0 (\d{3}) ([^\r\n]*)/.exec(text);
  if (!m) return undefined;
  const code = Number(m[1]);
  if (code < 200) return undefined;
  console.log(`${host}:${port}/${transport} answered ${code} ${m[2]}`);
  return code === 200 || code === 401 || code === 407 ? 0 : 1;
}

function once() {
  return new Promise((resolve) => {
    const done = (result, socket) => {
      clearTimeout(timer);
      socket.destroy ? socket.destroy() : socket.close();
      resolve(result);
    };
    let timer;
    if (transport === 'tcp') {
      let buffer = '';
      const socket = net.connect({ host, port }, () => socket.write(request(socket.localAddress, socket.localPort)));
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => {
        buffer += chunk;
        const result = verdict(buffer);
        if (result !== undefined) done(result, socket);
      });
      socket.on('error', (err) => done(`error: ${err.message}`, socket));
      timer = setTimeout(() => done('no answer', socket), 2000);
    } else {
      const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.on('message', (msg) => {
        const result = verdict(msg.toString('utf8'));
        if (result !== undefined) done(result, socket);
      });
      socket.on('error', (err) => done(`error: ${err.message}`, socket));
      socket.bind(0, () => socket.send(request('0.0.0.0', socket.address().port), port, host));
      timer = setTimeout(() => done('no answer', socket), 2000);
    }
  });
}

(async () => {
  for (let i = 1; i <= attempts; i++) {
    const result = await once();
    if (typeof result === 'number') process.exit(result);
    console.log(`attempt ${i}: ${result}`);
  }
  process.exit(1);
})();
