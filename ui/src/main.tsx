import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { CONSOLE_BASE_CSS } from '../../src/wire/console-style.js';
import { CONNECT_PAGE } from '../../src/wire/connect.js';
import { ConnectApp } from './connect/ConnectApp';
import { Root } from './Root';
import './styles.css';

// The base the server's own pages share, before this bundle's stylesheet so that it can build on it.
const base = document.createElement('style');
base.textContent = CONSOLE_BASE_CSS;
document.head.prepend(base);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {/* The same bundle is Postern Connect's page when the Connect daemon serves it there. */}
    {window.location.pathname.startsWith(CONNECT_PAGE) ? <ConnectApp /> : <Root />}
  </StrictMode>,
);
