/**
 * How the bench's Nest apps are created, as the example app's `main.ts` does: on the platform of
 * HTTP_PLATFORM (`express`, the default, or `fastify`), with Nest's logger at warn level.
 */
import 'reflect-metadata';
import type { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';

export type HttpPlatform = 'express' | 'fastify';

export function httpPlatform(): HttpPlatform {
  const platform = process.env.HTTP_PLATFORM || 'express';
  if (platform !== 'express' && platform !== 'fastify')
    throw new Error(`HTTP_PLATFORM must be express or fastify, got ${JSON.stringify(platform)}`);
  return platform;
}

export function createNestApp(module: Type<unknown>, platform: HttpPlatform): Promise<INestApplication> {
  const options = { logger: ['error' as const, 'warn' as const] };
  return platform === 'fastify' ? NestFactory.create(module, new FastifyAdapter(), options) : NestFactory.create(module, options);
}
