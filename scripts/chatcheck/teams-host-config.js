// The Adaptive Cards host config of Microsoft Teams (light theme), for the adaptivecards
// parser, validator and renderer. The values (spacing, font sizes and weights, colours,
// six actions, interactivity) are those Microsoft publishes for Teams in the AdaptiveCards
// repository (samples/HostConfig/microsoft-teams-light.json); the structure is built here.
"use strict";

const palette = {
  default: { default: "#ff252424", subtle: "#bf252424" },
  dark: { default: "#252424", subtle: "#bf252424" },
  light: { default: "#ffffff", subtle: "#fff3f2f1" },
  accent: { default: "#6264a7", subtle: "#8b8cc7" },
  good: { default: "#92c353", subtle: "#e592c353" },
  warning: { default: "#f8d22a", subtle: "#e5f8d22a" },
  attention: { default: "#c4314b", subtle: "#e5c4314b" },
};

const backgrounds = {
  default: "#ffffff", emphasis: "#fff9f8f7", accent: "#C7DEF9",
  good: "#CCFFCC", attention: "#FFC5B2", warning: "#FFE2B2",
};

const font = (family) => ({
  fontFamily: family,
  fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
  fontWeights: { lighter: 200, default: 400, bolder: 600 },
});

module.exports = {
  choiceSetInputValueSeparator: ",",
  supportsInteractivity: true,
  spacing: { small: 8, default: 12, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  separator: { lineThickness: 1, lineColor: "#EEEEEE" },
  imageSizes: { small: 32, medium: 52, large: 100 },
  fontStyles: {
    default: font("'Segoe UI', Tahoma, Geneva, Verdana, sans-serif"),
    monospace: font("'Courier New', Courier, monospace"),
  },
  containerStyles: Object.fromEntries(Object.entries(backgrounds).map(
    ([name, bg]) => [name, { backgroundColor: bg, foregroundColors: palette }])),
  actions: {
    maxActions: 6, spacing: "Default", buttonSpacing: 8,
    showCard: { actionMode: "Inline", inlineTopMargin: 16, style: "emphasis" },
    preExpandSingleShowCardAction: false, actionsOrientation: "Horizontal", actionAlignment: "Left",
  },
  adaptiveCard: { allowCustomStyle: false },
  imageSet: { imageSize: "Medium", maxImageHeight: 100 },
  factSet: {
    title: { size: "Default", color: "Default", isSubtle: false, weight: "Bolder", wrap: true },
    value: { size: "Default", color: "Default", isSubtle: false, weight: "Default", wrap: true },
    spacing: 16,
  },
};
