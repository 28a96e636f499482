import { describe, expect, it } from 'vitest';
import { contracts } from './index';

describe('gRPC contracts', () => {
  it('define the four services with the methods the design names', () => {
    expect(Object.keys(contracts.SignallingEdge.service)).toEqual(['SendRequest']);
    expect(Object.keys(contracts.FocusController.service)).toEqual([
      'HandleRequest',
      'DialogFailed',
      'AdoptSessionTimer',
      'Link',
    ]);
    expect(Object.keys(contracts.Notifier.service)).toEqual(['HandleRequest', 'Link']);
    // The links are bidirectional streams (issue 11): one per edge↔replica pair.
    expect(contracts.FocusController.service.Link).toMatchObject({
      requestStream: true,
      responseStream: true,
    });
    expect(contracts.Notifier.service.Link).toMatchObject({ requestStream: true, responseStream: true });
    expect(Object.keys(contracts.MediaRelay.service).sort()).toEqual([
      'AllocateLeg',
      'ReleaseLeg',
      'Stats',
      'UpdateLeg',
    ]);
  });

  it('round-trips a LegSpec through the wire encoding with enum names', () => {
    const method = contracts.MediaRelay.service.AllocateLeg;
    const bytes = method.requestSerialize({
      conferenceId: 'c1',
      legId: 'l1',
      publishes: true,
      mode: 'FORWARDING_MODE_AGGREGATE',
      aggregateWindowMs: 250,
    });
    const back = method.requestDeserialize(bytes);
    expect(back).toMatchObject({
      conferenceId: 'c1',
      legId: 'l1',
      publishes: true,
      subscribes: false,
      mode: 'FORWARDING_MODE_AGGREGATE',
      aggregateWindowMs: 250,
    });
  });
});
