import { expect } from 'chai';
import {
  ClosedError,
  NodeLostError,
  QuicksandError,
  RemoteError,
  TimeoutError,
  hasErrorCode,
  isQuicksandError,
  registerErrorClass,
  parseSize,
  formatBytes,
} from '@quicksand/core';
import { fromWireError, toWireError } from '@quicksand/core/internal';

class QuotaError extends Error {
  override name = 'QuotaError';
}
registerErrorClass(QuotaError);

describe('errors — codes, brands and the wire form', () => {
  it('gives every Quicksand error a stable code, its class name and retryability', () => {
    const e = new NodeLostError('node n2 was lost', { data: { node: 'n2' } });
    expect(e.code).to.equal('QS_ERR_NODE_LOST');
    expect(e.name).to.equal('NodeLostError');
    expect(e.retryable).to.equal(false);
    expect(new TimeoutError('slow').retryable).to.equal(true);
    expect(e).to.be.instanceOf(QuicksandError);
    expect(isQuicksandError(e)).to.equal(true);
    expect(hasErrorCode(e, 'QS_ERR_NODE_LOST')).to.equal(true);
    expect(isQuicksandError(new Error('x'))).to.equal(false);
  });

  it('recognises errors branded by another copy of the package', () => {
    const foreign = Object.assign(new Error('other copy'), { code: 'QS_ERR_CLOSED' });
    Object.defineProperty(foreign, Symbol.for('quicksand.error'), { value: true });
    expect(isQuicksandError(foreign)).to.equal(true);
  });

  it('rebuilds Quicksand errors by code, with data and the remote node named', () => {
    const back = fromWireError(toWireError(new ClosedError('gone', { data: { node: 'n1' } })), { node: 'n1', proclet: 'p1', method: 'get' });
    expect(back).to.be.instanceOf(ClosedError);
    expect(back.message).to.contain('gone').and.contain('node n1').and.contain('p1');
    expect((back as ClosedError).data.node).to.equal('n1');
  });

  it('rebuilds built-in and registered classes by name, others as RemoteError', () => {
    expect(fromWireError(toWireError(new TypeError('t')), { node: 'n0' })).to.be.instanceOf(TypeError);
    expect(fromWireError(toWireError(new QuotaError('q')), { node: 'n0' })).to.be.instanceOf(QuotaError);
    class Unregistered extends Error {
      override name = 'Unregistered';
    }
    const r = fromWireError(toWireError(new Unregistered('u')), { node: 'n3' });
    expect(r).to.be.instanceOf(RemoteError);
    expect(r.name).to.equal('Unregistered');
    expect(r.message).to.contain('node n3');
  });

  it('survives garbage on the wire', () => {
    expect(fromWireError(42).name).to.equal('ProtocolError');
    expect(fromWireError({ code: 5, name: [], message: {} })).to.be.instanceOf(Error);
    expect(toWireError('a string').message).to.contain('a string');
  });
});

describe('sizes — parsing and formatting', () => {
  it('parses numbers and unit strings', () => {
    expect(parseSize(1024)).to.equal(1024);
    expect(parseSize('64KiB')).to.equal(65536);
    expect(parseSize('1.5 MiB')).to.equal(1572864);
    expect(parseSize('2GB')).to.equal(2e9);
    expect(parseSize('1g')).to.equal(1024 ** 3);
  });
  it('rejects bad sizes naming the option', () => {
    expect(() => parseSize('lots', 'options.memory')).to.throw(RangeError, /options\.memory/);
    expect(() => parseSize(-1, 'options.memory')).to.throw(RangeError, /options\.memory/);
    expect(() => parseSize({} as never, 'x')).to.throw(TypeError);
  });
  it('formats bytes for messages', () => {
    expect(formatBytes(10)).to.equal('10 B');
    expect(formatBytes(1536)).to.equal('1.50 KiB');
  });
});
